import CachekitCore
import Glibc
import Synchronization

/// What a pool has done since it was made (or since this process forked from its parent).
public struct PoolSnapshot: Sendable, Equatable {
    /// Acquires that found every connection busy and waited.
    public var waits = 0
    /// Total time spent in those waits, nanoseconds.
    public var waitNanoseconds: Int64 = 0
    /// Waits that ended with `.poolTimeout`.
    public var timeouts = 0
    public var opened = 0
    /// Connections closed by this process: not reusable on return, or closed with the pool.
    public var closed = 0
    /// Idle connections inherited across fork() and let go without I/O.
    public var abandoned = 0
    /// Checked out or being opened.
    public var inUse = 0
    public var idle = 0
    /// The most in use at once.
    public var peakInUse = 0
}

/// A bounded pool of connections, made lazily by `factory` and reused most recently returned
/// first (LIFO keeps a few connections warm and lets the rest idle out on the server).
///
/// A caller that finds all `size` connections busy waits up to its deadline for one, as redis-py's
/// BlockingConnectionPool does, then gets `.poolTimeout`: a status of its own, so the caller can
/// tell a local queue from a Redis failure and keep it away from the breaker.
///
/// Fork-safe as redis-py's ConnectionPool._checkpid: the pool remembers the pid that uses it. In a
/// child, the first call lets go of every inherited idle connection with `abandonAfterFork()`
/// (no QUIT, no TLS close_notify: the parent's stream stays in step), forgets the busy ones
/// (their threads do not exist here; one returned by the forking thread is abandoned on return)
/// and starts from zero. Thread-safe.
public final class ConnectionPool<Connection: PooledConnection>: Sendable {
    public typealias Factory = @Sendable (Deadline) throws(CacheKitError) -> Connection

    public let size: Int
    public let connectTimeoutMilliseconds: Int
    private let factory: Factory
    private let state: Monitor<State>
    /// The process the state belongs to.
    private let owner = ProcessOwner()

    private struct State {
        var idle: [Connection] = []
        /// Idle, checked out, or being opened: never more than `size`.
        var open = 0
        var isClosed = false
        var counters = PoolSnapshot()

        mutating func noteInUse() {
            counters.peakInUse = max(counters.peakInUse, open &- idle.count)
        }
    }

    private enum Checkout {
        case reuse(Connection)
        case open
        /// `fresh` was asked and every slot is taken: the oldest idle one makes room.
        case replace(Connection)
    }

    /// `size` at least 1; `factory` opens a connection by the deadline it is given
    /// (`connectTimeoutMilliseconds` from when it is called).
    public init(size: Int, connectTimeoutMilliseconds: Int, factory: @escaping Factory) {
        self.size = max(1, size)
        self.connectTimeoutMilliseconds = connectTimeoutMilliseconds
        self.factory = factory
        state = Monitor(State())
    }

    deinit {
        resetIfForked()  // in a child, the inherited idle ones are abandoned, never closed
        let idle = state.withLock { state in
            let idle = state.idle
            state.idle = []
            return idle
        }
        for connection in idle { connection.close() }
    }

    /// A connection for one caller, waiting until `waitDeadline` while all are busy. `fresh`
    /// skips idle connections (after a reused one turned out stale, a retry should not get the
    /// next stale one). `reused` says whether it had been used before. Give it back with `release`.
    public func acquire(waitUntil waitDeadline: Deadline, fresh: Bool = false)
        throws(CacheKitError) -> (connection: Connection, reused: Bool) {
        resetIfForked()
        let waitStart = MonotonicClock.preciseNanoseconds()
        var waited = false
        let checkout = try state.wait(until: waitDeadline, { state throws(CacheKitError) -> Checkout? in
            guard !state.isClosed else { throw CacheKitError(.backendUnavailable, "the Redis connection pool is closed") }
            let checkout: Checkout
            if state.open < size {
                if !fresh, let connection = state.idle.popLast() {
                    checkout = .reuse(connection)
                } else {
                    state.open &+= 1
                    checkout = .open
                }
            } else if let connection = fresh ? (state.idle.isEmpty ? nil : state.idle.removeFirst()) : state.idle.popLast() {
                checkout = fresh ? .replace(connection) : .reuse(connection)
            } else {
                if !waited { waited = true; state.counters.waits &+= 1 }
                return nil
            }
            state.noteInUse()
            if waited { state.counters.waitNanoseconds &+= MonotonicClock.preciseNanoseconds() &- waitStart }
            return checkout
        }, timedOut: { state throws(CacheKitError) -> Checkout in
            state.counters.timeouts &+= 1
            state.counters.waitNanoseconds &+= MonotonicClock.preciseNanoseconds() &- waitStart
            throw CacheKitError(.poolTimeout, "all \(size) Redis connections stayed busy for the pool wait limit")
        })
        switch checkout {
        case .reuse(let connection):
            return (connection, true)
        case .replace(let oldest):
            oldest.close()
            state.withLock { $0.counters.closed &+= 1 }
            return (try openInSlot(), false)
        case .open:
            return (try openInSlot(), false)
        }
    }

    /// Opens a connection in a slot already counted in `open`; a failure frees the slot.
    private func openInSlot() throws(CacheKitError) -> Connection {
        do {
            let connection = try factory(Deadline.after(milliseconds: connectTimeoutMilliseconds))
            state.withLock { $0.counters.opened &+= 1 }
            return connection
        } catch {
            freeSlot()
            throw error
        }
    }

    private func freeSlot(closing: Bool = false) {
        state.withLock { state in
            state.open = max(0, state.open &- 1)
            if closing { state.counters.closed &+= 1 }
        }
        state.signal()
    }

    /// Returns a connection `acquire` handed out. One that is not reusable is closed and its slot
    /// freed; one opened by another process (this is a child and the forking thread held it) is
    /// abandoned and not counted in this process's pool.
    public func release(_ connection: Connection) {
        resetIfForked()
        guard connection.ownerProcess == ProcessIdentity.current else {
            connection.abandonAfterFork()
            state.withLock { $0.counters.abandoned &+= 1 }
            return
        }
        let kept = connection.isReusable && state.withLock { state -> Bool in
            guard !state.isClosed else { return false }
            state.idle.append(connection)
            return true
        }
        if kept {
            state.signal()
        } else {
            connection.close()
            freeSlot(closing: true)
        }
    }

    /// Runs `body` on a pooled connection and returns it, whatever `body` does.
    public func withConnection<Result>(waitUntil waitDeadline: Deadline, fresh: Bool = false,
                                       _ body: (Connection, _ reused: Bool) throws(CacheKitError) -> Result)
        throws(CacheKitError) -> Result {
        let (connection, reused) = try acquire(waitUntil: waitDeadline, fresh: fresh)
        defer { release(connection) }
        return try body(connection, reused)
    }

    /// Closes the idle connections now and each busy one when it is returned; later acquires fail.
    public func close() {
        resetIfForked()
        state.withLock { $0.isClosed = true }
        closeIdle()
    }

    /// Closes the idle connections and keeps the pool open: after a Sentinel failover, so the
    /// next calls connect to the new master instead of reusing connections to the old one.
    public func closeIdle() {
        resetIfForked()
        let idle = state.withLock { state in
            let idle = state.idle
            state.open = max(0, state.open &- idle.count)
            state.counters.closed &+= idle.count
            state.idle = []
            return idle
        }
        for _ in idle { state.signal() }
        for connection in idle { connection.close() }
    }

    public var snapshot: PoolSnapshot {
        resetIfForked()
        return state.withLock { state in
            var counters = state.counters
            counters.idle = state.idle.count
            counters.inUse = state.open &- state.idle.count
            return counters
        }
    }

    // MARK: Fork

    /// One atomic load per call (ProcessIdentity), no system call.
    private func resetIfForked() {
        owner.resetIfForked {
            var inherited: [Connection] = []
            state.reinitializeAfterFork(fresh: State(), salvage: { inherited = $0.idle })
            for connection in inherited { connection.abandonAfterFork() }
            let abandoned = inherited.count
            state.withLock { $0.counters.abandoned = abandoned }
        }
    }
}
