import CachekitCore
import Foundation
import Glibc
import Testing
@testable import CachekitRedis

/// Against real servers: a master, a replica and three sentinels started by the test.
@Suite(.serialized) struct SentinelTests {
    private func soon() -> Deadline { Deadline.after(milliseconds: 3_000) }

    /// SET then GET through the guard; a server error is thrown as the client would throw it.
    private func writeAndRead(_ guarded: CallGuard<RedisConnection>, _ value: String) throws(CacheKitError) -> (RedisValue, RedisAddress) {
        try guarded.run { connection throws(CacheKitError) -> (RedisValue, RedisAddress) in
            let replies = try connection.pipeline([["SET", "ck:sentinel", .text(value)], ["GET", "ck:sentinel"]],
                                                  limits: .small, deadline: Deadline.after(milliseconds: 1_000))
            for reply in replies { if case .error(let text) = reply { throw CacheKitError(.backendError, "Redis SET: \(text)") } }
            return (replies[1], connection.address)
        }
    }

    @Test func findsTheMasterSkippingADeadSentinelAndFollowsAFailover() throws {
        let topology = try SentinelTopology()
        let dead = RedisHostPort(host: "127.0.0.1", port: try freeLoopbackPort())
        let resolver = try SentinelResolver(sentinels: [dead] + topology.sentinelAddresses, serviceName: topology.serviceName,
                                            masterOptions: RedisConnectionOptions(address: .tcp(dead)))

        let first = try resolver.connectToMaster(deadline: soon())
        #expect(first.address == .tcp(topology.masterAddress))
        first.close()
        #expect(resolver.snapshot.master == topology.masterAddress)
        #expect(resolver.sentinels.first != dead)  // the sentinel that answered moved to the front
        #expect(resolver.snapshot.sentinelErrors == 1)

        let pool = ConnectionPool(size: 4, connectTimeoutMilliseconds: 2_000, factory: resolver.connectionFactory)
        let guarded = CallGuard(pool: pool, poolTimeoutMilliseconds: 1_000, breaker: try CircuitBreaker(), backpressure: nil,
                                accepts: { resolver.accepts($0) }, onFailure: resolver.failoverHandler(for: pool))
        let (before, beforeAddress) = try writeAndRead(guarded, "before")
        #expect(before == .bulk(Array("before".utf8)))
        #expect(beforeAddress == .tcp(topology.masterAddress))

        try topology.failover()
        let failedOver = Date()
        var recovered: TimeInterval?
        var failures = 0
        while Date().timeIntervalSince(failedOver) < 20 {
            do throws(CacheKitError) {
                let (value, address) = try writeAndRead(guarded, "after")
                if address == .tcp(topology.replicaAddress), value == .bulk(Array("after".utf8)) {
                    recovered = Date().timeIntervalSince(failedOver)
                    break
                }
            } catch {
                failures += 1
                #expect(SentinelResolver.suggestsFailover(error), "unexpected \(error)")
            }
            usleep(50_000)
        }
        let seconds = try #require(recovered, "the resolver never reached the promoted replica")
        #expect(seconds < 5)
        let snapshot = resolver.snapshot
        #expect(snapshot.master == topology.replicaAddress)
        #expect(snapshot.masterChanges >= 1)
        #expect(try SentinelTopology.call(topology.replica.port, ["ROLE"]).firstBulk == "master")
        pool.close()
    }

    @Test func aServiceNoSentinelKnowsIsAClearErrorWithinTheDeadline() throws {
        let topology = try SentinelTopology()
        let resolver = try SentinelResolver(sentinels: topology.sentinelAddresses, serviceName: "no-such-service",
                                            masterOptions: RedisConnectionOptions(address: .tcp(topology.masterAddress)))
        let start = Date()
        let status = thrown { _ = try resolver.connectToMaster(deadline: Deadline.after(milliseconds: 3_000)) }?.status
        #expect(status == .backendUnavailable)
        #expect(Date().timeIntervalSince(start) < 3.5)
        #expect(resolver.snapshot.sentinelErrors == 3)
        #expect(resolver.snapshot.master == nil)
    }

    @Test func aSentinelNamingAReplicaIsNotTakenForTheMaster() throws {
        // A plain server posing as a sentinel is not possible; instead point the resolver's
        // master check at the replica directly: ROLE says slave, so it is refused.
        let topology = try SentinelTopology()
        #expect(try SentinelTopology.call(topology.replica.port, ["ROLE"]).firstBulk == "slave")
        let resolver = try SentinelResolver(sentinels: topology.sentinelAddresses, serviceName: topology.serviceName,
                                            masterOptions: RedisConnectionOptions(address: .tcp(topology.masterAddress)))
        let connection = try resolver.connectToMaster(deadline: soon())
        #expect(connection.address == .tcp(topology.masterAddress))
        connection.close()
    }
}

extension RedisValue {
    /// The first element of an array reply, as text (ROLE's role).
    var firstBulk: String? {
        guard case .array(let parts) = self, case .bulk(let bytes)? = parts.first else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }
}
