import CachekitCore
import Testing
@testable import CachekitRedis

@Suite struct CallGuardTests {
    private func guarded(_ factory: FakeFactory, poolSize: Int, poolTimeoutMilliseconds: Int,
                         failureThreshold: Int = 2) throws -> CallGuard<FakeConnection> {
        var settings = CircuitBreaker.Settings()
        settings.failureThreshold = failureThreshold
        settings.successThreshold = 1
        settings.halfOpenRequests = 1
        return CallGuard(pool: factory.pool(size: poolSize), poolTimeoutMilliseconds: poolTimeoutMilliseconds,
                         breaker: try CircuitBreaker(settings: settings), backpressure: try Backpressure())
    }

    @Test func poolTimeoutsNeverOpenTheBreaker() throws {
        let factory = FakeFactory()
        let guarded = try self.guarded(factory, poolSize: 1, poolTimeoutMilliseconds: 5)
        let (held, _) = try guarded.pool.acquire(waitUntil: Deadline.after(milliseconds: 100))
        for _ in 0..<10 {
            #expect(thrown { _ = try guarded.run { _ throws(CacheKitError) in 1 } }?.status == .poolTimeout)
        }
        guarded.pool.release(held)
        let snapshot = guarded.snapshot
        #expect(snapshot.breaker?.state == .closed)
        #expect(snapshot.breaker?.failures == 0)
        #expect(snapshot.pool.timeouts == 10)
        #expect(try guarded.run { _ throws(CacheKitError) in 7 } == 7)
    }

    @Test func backendFailuresOpenTheBreakerAndAnOpenBreakerSkipsThePool() throws {
        let factory = FakeFactory()
        let guarded = try self.guarded(factory, poolSize: 2, poolTimeoutMilliseconds: 100)
        for _ in 0..<2 {
            let status = thrown {
                _ = try guarded.run(retryStaleConnection: false) { connection throws(CacheKitError) -> Int in
                    connection.breakStream()
                    throw CacheKitError(.backendTimeout, "fake read timed out")
                }
            }?.status
            #expect(status == .backendTimeout)
        }
        #expect(guarded.breaker?.state == .open)
        let opened = factory.made.count
        #expect(thrown { _ = try guarded.run { _ throws(CacheKitError) in 1 } }?.status == .circuitOpen)
        #expect(factory.made.count == opened)
        #expect(guarded.snapshot.breaker?.rejected == 1)
        #expect(guarded.snapshot.pool.closed == 2)  // the broken connections were not reused
    }

    @Test func aServerErrorForOneKeyDoesNotCount() throws {
        let factory = FakeFactory()
        let guarded = try self.guarded(factory, poolSize: 2, poolTimeoutMilliseconds: 100)
        for _ in 0..<5 {
            _ = thrown {
                _ = try guarded.run { _ throws(CacheKitError) -> Int in
                    throw CacheKitError(.backendError, "Redis GET: WRONGTYPE Operation against a key holding the wrong kind of value")
                }
            }
        }
        #expect(guarded.breaker?.state == .closed)
    }

    @Test func aStaleReusedConnectionIsRetriedOnceOnAFreshOne() throws {
        let factory = FakeFactory()
        let guarded = try self.guarded(factory, poolSize: 2, poolTimeoutMilliseconds: 100)
        _ = try guarded.run { _ throws(CacheKitError) in 0 }  // leaves one idle connection
        let stale = try #require(factory.made.first)
        var attempts: [Int] = []
        let result = try guarded.run { connection throws(CacheKitError) -> Int in
            attempts.append(connection.serial)
            if connection === stale {
                connection.breakStream()
                throw CacheKitError(.backendUnavailable, "fake connection reset by peer")
            }
            return 42
        }
        #expect(result == 42)
        #expect(attempts == [0, 1])
        #expect(stale.wasClosed)
        #expect(guarded.snapshot.breaker?.failures == 0)
    }
}
