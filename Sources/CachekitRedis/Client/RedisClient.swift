import CachekitCore

/// One Redis client as the cache, the listener and the CLI use it: the URL's server (or the
/// master its sentinels name), a bounded pool that waits, the circuit breaker and backpressure,
/// and a deadline on every call. Thread-safe.
///
/// A call's time is bounded by the settings, not by what a server does: at most
/// `backpressureTimeout` queued for a permit, `poolTimeout` waiting for a connection, the
/// connect timeout when a connection is opened (Sentinel discovery included), then
/// `commandTimeout` for the command or the whole pipelined batch. A stale pooled connection
/// (the server restarted) is retried once on a fresh one, which can add one connect and one
/// command timeout.
public final class RedisClient: Sendable {
    public struct Settings: Sendable, Equatable {
        public var connectTimeoutMilliseconds = 5_000
        public var commandTimeoutMilliseconds = 5_000
        public var poolSize = 50
        /// nil: the command timeout.
        public var poolTimeoutMilliseconds: Int?
        /// nil: no breaker.
        public var breaker: CircuitBreaker.Settings? = CircuitBreaker.Settings()
        /// nil: no backpressure.
        public var backpressure: Backpressure.Settings? = Backpressure.Settings()

        public init() {}

        /// The client settings a cache configuration gives; the URL's `socket_timeout` and
        /// `socket_connect_timeout`, when present, win as they do for redis-py.
        public init(config: CacheConfig, url: RedisURL) {
            connectTimeoutMilliseconds = url.socketConnectTimeoutMilliseconds ?? config.connectTimeoutMilliseconds
            commandTimeoutMilliseconds = url.socketTimeoutMilliseconds ?? config.commandTimeoutMilliseconds
            poolSize = config.poolSize
            poolTimeoutMilliseconds = config.poolTimeoutMilliseconds
            if config.circuitBreakerEnabled {
                var breaker = CircuitBreaker.Settings()
                breaker.failureThreshold = config.failureThreshold
                breaker.successThreshold = config.successThreshold
                breaker.recoveryTimeoutMilliseconds = config.recoveryTimeoutMilliseconds
                breaker.halfOpenRequests = config.halfOpenRequests
                breaker.failureWindowMilliseconds = config.failureWindowMilliseconds
                self.breaker = breaker
            } else {
                breaker = nil
            }
            if config.backpressureEnabled {
                var backpressure = Backpressure.Settings()
                backpressure.maxConcurrentRequests = config.maxConcurrentRequests
                backpressure.queueSize = config.queueSize
                backpressure.timeoutMilliseconds = config.backpressureTimeoutMilliseconds
                self.backpressure = backpressure
            } else {
                backpressure = nil
            }
        }
    }

    public let url: RedisURL
    public let settings: Settings
    public let guarded: CallGuard<RedisConnection>
    /// Set for `redis+sentinel://` URLs: finds the master and follows failovers.
    public let sentinel: SentinelResolver?
    private let openConnection: ConnectionPool<RedisConnection>.Factory

    /// `connectionFactory` replaces how connections are opened (a cluster node's, which sends
    /// READONLY; the cluster's "any node" client for the listener).
    public init(url: RedisURL, settings: Settings,
                connectionFactory: ConnectionPool<RedisConnection>.Factory? = nil) throws(CachekitError) {
        self.url = url
        self.settings = settings
        let factory: ConnectionPool<RedisConnection>.Factory
        if let connectionFactory {
            sentinel = nil
            factory = connectionFactory
        } else if case .sentinel = url.target {
            let resolver = try SentinelResolver(url: url)
            sentinel = resolver
            factory = resolver.connectionFactory
        } else {
            let options = try RedisConnectionOptions(url: url)
            sentinel = nil
            factory = { deadline throws(CachekitError) in try RedisConnection.open(options, deadline: deadline) }
        }
        openConnection = factory
        let pool = ConnectionPool<RedisConnection>(size: settings.poolSize,
                                                   connectTimeoutMilliseconds: settings.connectTimeoutMilliseconds,
                                                   factory: factory)
        let breaker = try settings.breaker.map { (breaker: CircuitBreaker.Settings) throws(CachekitError) in
            try CircuitBreaker(settings: breaker)
        }
        let backpressure = try settings.backpressure.map { (backpressure: Backpressure.Settings) throws(CachekitError) in
            try Backpressure(settings: backpressure)
        }
        guarded = CallGuard(pool: pool,
                            poolTimeoutMilliseconds: settings.poolTimeoutMilliseconds ?? settings.commandTimeoutMilliseconds,
                            breaker: breaker, backpressure: backpressure,
                            accepts: Self.masterCheck(sentinel),
                            onFailure: sentinel?.failoverHandler(for: pool))
    }

    /// With Sentinel, a pooled connection is used only while its server is still the master.
    private static func masterCheck(_ resolver: SentinelResolver?) -> CallGuard<RedisConnection>.ConnectionCheck? {
        guard let resolver else { return nil }
        return { connection in resolver.accepts(connection) }
    }

    /// Runs `body` on a pooled connection through the breaker and backpressure; `body` gets
    /// the deadline its command (or batch) must meet.
    public func run<Result>(_ body: (RedisConnection, Deadline) throws(CachekitError) -> Result) throws(CachekitError) -> Result {
        let timeout = settings.commandTimeoutMilliseconds
        return try guarded.run { connection throws(CachekitError) -> Result in
            try body(connection, Deadline.after(milliseconds: timeout))
        }
    }

    /// A connection of its own, outside the pool (a subscriber, the CLI), opened within
    /// `connectTimeoutMilliseconds` (default: the configured connect timeout).
    public func openDedicatedConnection(connectTimeoutMilliseconds: Int? = nil) throws(CachekitError) -> RedisConnection {
        try openConnection(Deadline.after(milliseconds: connectTimeoutMilliseconds ?? settings.connectTimeoutMilliseconds))
    }

    public var snapshot: ReliabilitySnapshot { guarded.snapshot }

    /// Closes the pooled connections (in this process only: after fork() the pool abandons them).
    public func close() { guarded.pool.close() }
}
