import CachekitCore

/// The breaker, backpressure and pool as one call sees them, at one moment.
public struct ReliabilitySnapshot: Sendable, Equatable {
    public var pool: PoolSnapshot
    public var breaker: CircuitBreaker.Snapshot?
    public var backpressure: Backpressure.Snapshot?
}

/// The way one Redis call goes through the reliability layers, in this order: the breaker (fail
/// fast with `.circuitOpen` while it is open), backpressure (a bound on calls in flight, shed with
/// `.backendOverloaded`), the pool (wait up to `poolTimeoutMilliseconds` for a connection, else
/// `.poolTimeout`), then `body` on the connection. Only the errors `CircuitBreaker.counts` accepts
/// reach the breaker as failures: waiting, shedding and refusals of one value never open it.
///
/// A call whose reused connection turns out dead (`.backendUnavailable`: the server restarted or
/// closed an idle connection) is tried once more on a fresh one when `retryStaleConnection`, so a
/// restart costs no failed call; a timeout is never retried (it would double the wait).
public final class CallGuard<Connection: PooledConnection>: Sendable {
    public let pool: ConnectionPool<Connection>
    public let breaker: CircuitBreaker?
    public let backpressure: Backpressure?
    public let poolTimeoutMilliseconds: Int
    /// Called with the connection and the error when `body` fails, before the connection goes
    /// back to the pool and before a retry: where a Sentinel client drops the failed master
    /// (`SentinelResolver.failoverHandler`).
    public typealias FailureHandler = @Sendable (Connection, CacheKitError) -> Void
    private let onFailure: FailureHandler?
    /// Asked before a connection is used; one it refuses is closed and another taken (a
    /// Sentinel client refuses connections to a master that moved: `SentinelResolver.accepts`).
    public typealias ConnectionCheck = @Sendable (Connection) -> Bool
    private let accepts: ConnectionCheck?

    public init(pool: ConnectionPool<Connection>, poolTimeoutMilliseconds: Int,
                breaker: CircuitBreaker?, backpressure: Backpressure?,
                accepts: ConnectionCheck? = nil, onFailure: FailureHandler? = nil) {
        self.pool = pool
        self.poolTimeoutMilliseconds = poolTimeoutMilliseconds
        self.breaker = breaker
        self.backpressure = backpressure
        self.accepts = accepts
        self.onFailure = onFailure
    }

    public func run<Result>(retryStaleConnection: Bool = true,
                            _ body: (Connection) throws(CacheKitError) -> Result) throws(CacheKitError) -> Result {
        var admission: CircuitBreaker.Admission?
        if let breaker {
            guard let admitted = breaker.admit() else {
                throw CacheKitError(.circuitOpen, "Redis skipped: the circuit breaker is open after repeated failures")
            }
            admission = admitted
        }
        do throws(CacheKitError) {
            let result: Result
            if let backpressure {
                result = try backpressure.withPermit { () throws(CacheKitError) -> Result in
                    try onPooledConnection(retryStaleConnection: retryStaleConnection, body)
                }
            } else {
                result = try onPooledConnection(retryStaleConnection: retryStaleConnection, body)
            }
            if let breaker, let admission { breaker.recordSuccess(admission) }
            return result
        } catch {
            if let breaker, let admission { breaker.record(admission, error: error) }
            throw error
        }
    }

    private func onPooledConnection<Result>(retryStaleConnection: Bool,
                                            _ body: (Connection) throws(CacheKitError) -> Result) throws(CacheKitError) -> Result {
        var fresh = false
        var refused = 0
        while true {
            let (connection, reused) = try pool.acquire(waitUntil: Deadline.after(milliseconds: poolTimeoutMilliseconds), fresh: fresh)
            if let accepts, refused <= pool.size, !accepts(connection) {
                // Bounded: after `size` refusals every idle one is gone and the next is new.
                refused &+= 1
                connection.close()
                pool.release(connection)
                continue
            }
            do throws(CacheKitError) {
                let result = try body(connection)
                pool.release(connection)
                return result
            } catch {
                onFailure?(connection, error)
                pool.release(connection)
                guard retryStaleConnection, reused, !fresh, error.status == .backendUnavailable else { throw error }
                fresh = true
            }
        }
    }

    public var snapshot: ReliabilitySnapshot {
        ReliabilitySnapshot(pool: pool.snapshot, breaker: breaker?.snapshot, backpressure: backpressure?.snapshot)
    }
}
