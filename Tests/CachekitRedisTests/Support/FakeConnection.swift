import CachekitCore
import Foundation
import Glibc
@testable import CachekitRedis

/// A connection that records what the pool did with it; no I/O.
final class FakeConnection: PooledConnection, @unchecked Sendable {  // flags behind `Locked`
    struct Flags { var reusable = true; var closed = false; var abandoned = false }
    let ownerProcess: pid_t = getpid()
    let serial: Int
    private let flags = Locked(Flags())

    init(serial: Int) { self.serial = serial }

    var isReusable: Bool { flags.withLock { $0.reusable && !$0.closed } }
    var wasClosed: Bool { flags.withLock { $0.closed } }
    var wasAbandoned: Bool { flags.withLock { $0.abandoned } }
    func breakStream() { flags.withLock { $0.reusable = false } }
    func close() { flags.withLock { $0.closed = true } }
    func abandonAfterFork() { flags.withLock { $0.abandoned = true } }
}

/// Makes fake connections, optionally failing, and counts them.
final class FakeFactory: @unchecked Sendable {  // state behind `Locked`
    private let state = Locked((made: [FakeConnection](), failNext: 0))

    var made: [FakeConnection] { state.withLock { $0.made } }
    func failNext(_ count: Int) { state.withLock { $0.failNext = count } }

    func make(_ deadline: Deadline) throws(CacheKitError) -> FakeConnection {
        try state.withLock { state throws(CacheKitError) -> FakeConnection in
            if state.failNext > 0 {
                state.failNext -= 1
                throw CacheKitError(.backendUnavailable, "fake connect refused")
            }
            let connection = FakeConnection(serial: state.made.count)
            state.made.append(connection)
            return connection
        }
    }

    func pool(size: Int) -> ConnectionPool<FakeConnection> {
        ConnectionPool(size: size, connectTimeoutMilliseconds: 1000) { deadline throws(CacheKitError) in try self.make(deadline) }
    }

    /// A pool of `size` with `count` connections checked out of it.
    func pool(size: Int, checkedOut count: Int) throws -> (ConnectionPool<FakeConnection>, [FakeConnection]) {
        let pool = self.pool(size: size)
        var connections: [FakeConnection] = []
        for _ in 0..<count { connections.append(try pool.acquire(waitUntil: Deadline.after(milliseconds: 1000)).connection) }
        return (pool, connections)
    }
}

/// A clock tests move by hand, in nanoseconds.
final class ManualClock: @unchecked Sendable {  // the time behind `Locked`
    private let time = Locked<Int64>(1_000_000_000)
    var now: Int64 { time.withLock { $0 } }
    func advance(milliseconds: Int64) { time.withLock { $0 += milliseconds * 1_000_000 } }
}

/// Runs `body(index)` on `count` threads of their own (not a dispatch pool capped at the core
/// count) and waits for all of them.
func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let done = DispatchGroup()
    for index in 0..<count {
        done.enter()
        let thread = Thread {
            body(index)
            done.leave()
        }
        thread.stackSize = 1 << 20
        thread.start()
    }
    done.wait()
}
