import CachekitCore
import Glibc
import Synchronization

/// Finds the master of a Sentinel-managed service and follows it through failovers.
///
/// Discovery asks each sentinel in turn `SENTINEL get-master-addr-by-name SERVICE`; a sentinel
/// that names a master is swapped to the front of the list, as redis-py's `discover_master`
/// does, so the next discovery asks it first. The named address is connected to with the
/// master's options and must answer `ROLE` with `master` (right after a failover a sentinel
/// can still name the demoted one); otherwise the next sentinel is asked. The master is cached
/// until `masterFailed` drops it: the client calls that on a connection failure or a READONLY
/// error, and the next connection rediscovers. Every connection this opens, to a sentinel or
/// to the master, checks ROLE again, so a pool never fills with connections to a replica.
///
/// Sentinels are reached with `sentinelOptions` (by default no credentials, as redis-py's
/// `sentinel_kwargs`, and the master's TLS). Thread-safe.
public final class SentinelResolver: Sendable {
    public struct Snapshot: Sendable, Equatable {
        public var master: RedisHostPort?
        /// Discoveries run (each asks one or more sentinels).
        public var discoveries = 0
        /// Discoveries that found a master other than the one before.
        public var masterChanges = 0
        /// Sentinels that could not be reached or gave no usable answer.
        public var sentinelErrors = 0
        /// Addresses a sentinel named that did not say ROLE master.
        public var notMaster = 0
    }

    public let serviceName: String
    private let masterOptions: RedisConnectionOptions
    private let sentinelOptions: RedisConnectionOptions
    /// How often `accepts` asks the front sentinel whether the master moved.
    public let checkIntervalMilliseconds: Int
    private let state: Locked<State>
    /// When the next periodic check is due (monotonic ns); the caller that moves it runs the check.
    private let nextCheck = Atomic<Int64>(0)

    private struct State {
        var sentinels: [RedisHostPort]
        var snapshot = Snapshot()
        /// The last master found, kept when `master` is dropped, to count changes.
        var lastKnown: RedisHostPort?

        mutating func found(_ master: RedisHostPort) {
            if let lastKnown, lastKnown != master { snapshot.masterChanges &+= 1 }
            lastKnown = master
            snapshot.master = master
        }
    }

    /// `masterOptions` carries the master's credentials, db and TLS (its address is replaced by
    /// the discovered one); `sentinelOptions` how to reach a sentinel (its address is replaced
    /// too), by default no credentials and the master's TLS.
    public init(sentinels: [RedisHostPort], serviceName: String, masterOptions: RedisConnectionOptions,
                sentinelOptions: RedisConnectionOptions? = nil, checkIntervalMilliseconds: Int = 1_000) throws(CacheKitError) {
        guard !sentinels.isEmpty else { throw CacheKitError(.invalidConfig, "a Sentinel setup needs at least one sentinel address") }
        guard !serviceName.isEmpty else { throw CacheKitError(.invalidConfig, "a Sentinel setup needs a service name") }
        self.serviceName = serviceName
        self.masterOptions = masterOptions
        self.sentinelOptions = sentinelOptions ?? RedisConnectionOptions(address: masterOptions.address, tls: masterOptions.tls)
        self.checkIntervalMilliseconds = max(1, checkIntervalMilliseconds)
        state = Locked(State(sentinels: sentinels))
    }

    /// The resolver a `redis+sentinel://` or `rediss+sentinel://` URL describes: its userinfo,
    /// db and TLS are the master's.
    public convenience init(url: RedisURL) throws(CacheKitError) {
        guard case .sentinel(let nodes, let service) = url.target else {
            throw CacheKitError(.invalidConfig, "not a Sentinel URL: \(url.redactedDescription)")
        }
        let tls = try url.tls.map { (settings: TLSSettings) throws(CacheKitError) in try TLSContext.shared(for: settings) }
        let placeholder = RedisAddress.tcp(nodes[0])
        try self.init(sentinels: nodes, serviceName: service,
                      masterOptions: RedisConnectionOptions(address: placeholder, username: url.username,
                                                            password: url.password, database: url.database, tls: tls))
    }

    public var snapshot: Snapshot { state.withLock { $0.snapshot } }
    public var sentinels: [RedisHostPort] { state.withLock { $0.sentinels } }

    /// A connection to the master, checked with ROLE, by `deadline`: the cached master when it
    /// still is one, else a fresh discovery. The pool's factory.
    public func connectToMaster(deadline: Deadline) throws(CacheKitError) -> RedisConnection {
        if let cached = state.withLock({ $0.snapshot.master }) {
            do throws(CacheKitError) {
                if let connection = try openIfMaster(cached, deadline: deadline) { return connection }
                state.withLock { $0.snapshot.notMaster &+= 1 }
            } catch where !deadline.hasPassed && CircuitBreaker.counts(error) {
                // The cached master is gone (a failover took it down): discover below.
            }
            masterFailed(cached)
        }
        return try discover(deadline: deadline)
    }

    /// The pool factory for this service's master.
    public var connectionFactory: ConnectionPool<RedisConnection>.Factory {
        { [self] deadline throws(CacheKitError) in try connectToMaster(deadline: deadline) }
    }

    /// Forgets `master` if it is still the cached one: the next connection rediscovers. Call on a
    /// connection failure or a READONLY reply from a connection to it.
    public func masterFailed(_ master: RedisHostPort) {
        state.withLock { state in
            if state.snapshot.master == master { state.snapshot.master = nil }
        }
    }

    /// A `CallGuard` failure handler: when an error suggests a failover, closes the connection
    /// (a READONLY one is still in step, but talks to a replica), forgets its master and closes
    /// the pool's idle connections to it, so the next call rediscovers.
    public func failoverHandler(for pool: ConnectionPool<RedisConnection>) -> CallGuard<RedisConnection>.FailureHandler {
        { [self] connection, error in
            guard Self.suggestsFailover(error), case .tcp(let address) = connection.address else { return }
            connection.close()
            let wasCurrent = state.withLock { state -> Bool in
                guard state.snapshot.master == address else { return false }
                state.snapshot.master = nil
                return true
            }
            if wasCurrent { pool.closeIdle() }
        }
    }

    /// Whether a pooled connection still goes to the master: false once the cached master is
    /// another address. At most once per `checkIntervalMilliseconds` one caller first asks the
    /// front sentinel (one short connection, bounded by `checkTimeoutMilliseconds`) whether the
    /// master moved: after a failover the demoted master keeps accepting writes until Sentinel
    /// reconfigures it, which can take its 10 s INFO period; this notices the switch in about
    /// one interval. A `CallGuard` closes a connection this refuses and takes another.
    public func accepts(_ connection: RedisConnection, checkTimeoutMilliseconds: Int = 500) -> Bool {
        guard case .tcp(let address) = connection.address else { return true }
        let now = MonotonicClock.preciseNanoseconds()
        let due = nextCheck.load(ordering: .relaxed)
        if now >= due, nextCheck.compareExchange(expected: due, desired: now &+ Int64(checkIntervalMilliseconds) &* 1_000_000,
                                                 ordering: .relaxed).exchanged {
            recheck(deadline: Deadline.after(milliseconds: checkTimeoutMilliseconds))
        }
        return state.withLock { $0.snapshot.master.map { $0 == address } ?? true }
    }

    /// Asks the front sentinel which master it names; a different one than cached replaces it
    /// (connections to it are checked with ROLE when they open). A sentinel that does not answer
    /// changes nothing: a failing call rediscovers anyway.
    private func recheck(deadline: Deadline) {
        guard let (front, cached) = state.withLock({ state in state.sentinels.first.map { ($0, state.snapshot.master) } }),
              let cached, let named = try? askForMaster(front, deadline: deadline), named != cached else { return }
        state.withLock { $0.found(named) }
    }

    /// Whether an error from a connection to the master means it may no longer be the master:
    /// the connection failed, or the server refused a write as a replica (READONLY).
    public static func suggestsFailover(_ error: CacheKitError) -> Bool {
        switch error.status {
        case .backendUnavailable, .backendTimeout: return true
        case .backendError: return CircuitBreaker.countsServerError(error.message)
        default: return false
        }
    }

    /// Asks the sentinels for the master, connects to it and checks ROLE; caches and returns the
    /// connection. Each sentinel gets an equal share of the time left, so one that never
    /// answers cannot use up the whole deadline.
    public func discover(deadline: Deadline) throws(CacheKitError) -> RedisConnection {
        let sentinels = state.withLock { state -> [RedisHostPort] in
            state.snapshot.discoveries &+= 1
            return state.sentinels
        }
        var rejected: Set<RedisHostPort> = []
        var lastProblem = "no sentinel answered"
        for (index, sentinel) in sentinels.enumerated() {
            let share = Self.share(of: deadline, among: sentinels.count &- index)
            let named: RedisHostPort?
            do throws(CacheKitError) {
                named = try askForMaster(sentinel, deadline: share)
            } catch {
                state.withLock { $0.snapshot.sentinelErrors &+= 1 }
                lastProblem = "sentinel \(sentinel): \(error.message)"
                continue
            }
            guard let named else {
                state.withLock { $0.snapshot.sentinelErrors &+= 1 }
                lastProblem = "sentinel \(sentinel) knows no master named '\(escapedForMessage(serviceName, limit: 64))'"
                continue
            }
            if rejected.contains(named) { continue }
            let connection: RedisConnection?
            do throws(CacheKitError) {
                connection = try openIfMaster(named, deadline: deadline)
            } catch {
                rejected.insert(named)
                lastProblem = "master \(named) named by sentinel \(sentinel): \(error.message)"
                continue
            }
            guard let connection else {
                rejected.insert(named)
                state.withLock { $0.snapshot.notMaster &+= 1 }
                lastProblem = "\(named), named by sentinel \(sentinel), does not say ROLE master"
                continue
            }
            state.withLock { state in
                if let at = state.sentinels.firstIndex(of: sentinel), at != 0 { state.sentinels.swapAt(0, at) }
                state.found(named)
            }
            return connection
        }
        let status: Status = deadline.hasPassed ? .backendTimeout : .backendUnavailable
        throw CacheKitError(status, "no master found for Sentinel service '\(escapedForMessage(serviceName, limit: 64))' (\(lastProblem))")
    }

    /// A deadline `count` sentinels can share: the time left divided evenly, the last gets all.
    private static func share(of deadline: Deadline, among count: Int) -> Deadline {
        let left = deadline.nanoseconds &- MonotonicClock.preciseNanoseconds()
        guard count > 1, left > 0 else { return deadline }
        return Deadline(nanoseconds: deadline.nanoseconds &- left &+ left / Int64(count))
    }

    /// `SENTINEL get-master-addr-by-name`: the master's address, or nil when the sentinel does
    /// not know the service.
    private func askForMaster(_ sentinel: RedisHostPort, deadline: Deadline) throws(CacheKitError) -> RedisHostPort? {
        var options = sentinelOptions
        options.address = .tcp(sentinel)
        options.tlsServerName = sentinel.host
        let connection = try RedisConnection.open(options, deadline: deadline)
        defer { connection.close() }
        let reply = try connection.call(["SENTINEL", "get-master-addr-by-name", .text(serviceName)], limits: .small, deadline: deadline)
        switch reply {
        case .null:
            return nil
        case .error(let text):
            throw CacheKitError(.backendError, "SENTINEL get-master-addr-by-name: \(text)")
        case .array(let parts):
            guard parts.count == 2, case .bulk(let host) = parts[0], case .bulk(let portText) = parts[1],
                  let port = Int(String(decoding: portText, as: UTF8.self)), (1...65_535).contains(port), !host.isEmpty else {
                throw CacheKitError(.backendError, "SENTINEL get-master-addr-by-name: not an address")
            }
            return RedisHostPort(host: String(decoding: host, as: UTF8.self), port: port)
        default:
            throw CacheKitError(.backendError, "SENTINEL get-master-addr-by-name: unexpected reply")
        }
    }

    /// A connection to `address` when it answers ROLE with master; nil (connection closed) when
    /// it is something else.
    private func openIfMaster(_ address: RedisHostPort, deadline: Deadline) throws(CacheKitError) -> RedisConnection? {
        var options = masterOptions
        options.address = .tcp(address)
        options.tlsServerName = address.host
        let connection = try RedisConnection.open(options, deadline: deadline)
        do throws(CacheKitError) {
            let reply = try connection.call(["ROLE"], limits: .small, deadline: deadline)
            if case .array(let parts) = reply, case .bulk(let role)? = parts.first, role == Array("master".utf8) {
                return connection
            }
            connection.close()
            if case .error(let text) = reply { throw CacheKitError(.backendError, "ROLE: \(text)") }
            return nil
        } catch {
            connection.close()
            throw error
        }
    }
}
