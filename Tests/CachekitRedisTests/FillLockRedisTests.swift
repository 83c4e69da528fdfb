import CachekitCore
import Glibc
import Testing
@testable import CachekitRedis

/// The fill lock's commands against a real redis-server: what lands on the server is what
/// redis-py's Lock leaves there, and the release deletes only its own token.
@Suite(.serialized) struct FillLockRedisTests {
    private static func raw(_ server: RedisServerProcess) throws -> RedisConnection {
        try RedisConnection.open(try RedisConnectionOptions(url: try RedisURL.parse(server.url)), deadline: .after(milliseconds: 2_000))
    }

    private static func call(_ connection: RedisConnection, _ command: [RedisArgument]) throws -> RedisValue {
        try connection.call(command, limits: .small, deadline: .after(milliseconds: 2_000))
    }

    @Test func lockCommandsMatchRedisPy() throws {
        let server = try RedisServerProcess()
        defer { server.stop() }
        let config = CacheConfig()
        let url = try RedisURL.parse(server.url)
        let tier = try RedisL2(config: config, url: url, stats: CacheStats())
        let connection = try Self.raw(server)
        defer { connection.close() }
        let lock = FillLock.lockKey(Array("t:default:k".utf8))
        let mine = try #require(FillLock.newToken()), theirs = try #require(FillLock.newToken())

        #expect(try tier.acquireLock(lock, token: mine, milliseconds: 30_000))
        #expect(try Self.call(connection, ["GET", "t:default:k:lock"]) == .bulk(mine))
        guard case .integer(let pttl) = try Self.call(connection, ["PTTL", "t:default:k:lock"]) else {
            Issue.record("PTTL gave no integer")
            return
        }
        #expect(pttl > 25_000 && pttl <= 30_000)
        #expect(try !tier.acquireLock(lock, token: theirs, milliseconds: 30_000))
        #expect(try !tier.releaseLock(lock, token: theirs))  // not theirs to release
        #expect(try Self.call(connection, ["GET", "t:default:k:lock"]) == .bulk(mine))

        // The script's SHA-1 is the one the server names it by, and a flushed script cache is reloaded.
        #expect(try Self.call(connection, ["SCRIPT", "LOAD", .bytes(FillLock.releaseScript)]) == .bulk(FillLock.releaseScriptSHA1))
        #expect(try Self.call(connection, ["SCRIPT", "FLUSH"]) == .simple("OK"))
        #expect(try tier.releaseLock(lock, token: mine))
        #expect(try Self.call(connection, ["EXISTS", "t:default:k:lock"]) == .integer(0))
        #expect(try !tier.releaseLock(lock, token: mine))

        // A lock that expired is free for the next caller.
        #expect(try tier.acquireLock(lock, token: theirs, milliseconds: 30))
        usleep(80_000)
        #expect(try tier.acquireLock(lock, token: mine, milliseconds: 30_000))

        #expect(try Self.call(connection, ["SET", "t:default:v", "x", "EX", "10"]) == .simple("OK"))
        #expect(try tier.expire(Array("t:default:v".utf8), seconds: 100))
        #expect(try !tier.expire(Array("t:default:absent".utf8), seconds: 100))
    }
}
