import CachekitCore
import Glibc
import Testing
@testable import CachekitRedis

/// Caches with identical Redis settings share one client (RedisClientRegistry), counted as
/// connections on a real redis-server: one pool for many caches, another for other settings or
/// an opted-out cache, the client closed by whichever cache goes last, fresh connections in a
/// forked child.
@Suite(.serialized) struct SharedClientTests {
    /// A cache on `url` with no L1 (every get goes to Redis) and no subscriber connection.
    private func makeCache(_ url: String, _ options: [(String, String)] = []) throws -> Cache {
        let config = CacheConfig()
        try config.set("redis_url", url)
        try config.set("l1_max_bytes", "0")
        try config.set("l1_tracking", "0")
        for (name, value) in options { try config.set(name, value) }
        return try Cache.open(config: config)
    }

    private func touch(_ cache: Cache) throws {
        try Array("shared:k".utf8).withUnsafeBytes { _ = try cache.get($0) }
    }

    private func client(_ cache: Cache) -> RedisClient? { (cache.secondTier as? RedisL2)?.client }

    /// Connections the server has, other than the one asking.
    private func connections(_ url: String) throws -> Int {
        let connection = try RedisConnection.open(try RedisConnectionOptions(url: try RedisURL.parse(url)), deadline: .after(milliseconds: 2_000))
        defer { connection.close() }
        guard case .bulk(let text) = try connection.call(["CLIENT", "LIST"], limits: .scanPage, deadline: .after(milliseconds: 2_000)) else {
            throw TestFailure("CLIENT LIST did not answer text")
        }
        return String(decoding: text, as: UTF8.self).split(separator: "\n").count - 1
    }

    /// A closed connection leaves CLIENT LIST once the server has read its end: polled every
    /// 5 ms for up to 10 s (a bound for a loaded machine, not a timing claim).
    private func eventually(_ condition: () throws -> Bool) -> Bool {
        for _ in 0..<2000 {
            if (try? condition()) == true { return true }
            usleep(5_000)
        }
        return false
    }

    @Test func cachesOnOneURLShareOneConnectionSet() throws {
        let server = try RedisServerProcess()
        let caches = try (0..<5).map { _ in try makeCache(server.url) }
        for cache in caches { try touch(cache) }
        #expect(try connections(server.url) == 1)
        #expect(caches.allSatisfy { client($0) === client(caches[0]) })
        let settings = try #require(client(caches[0])?.settings)
        #expect(RedisClientRegistry.leaseCount(url: try RedisURL.parse(server.url), settings: settings) == 5)
    }

    @Test func differentSettingsOrOptingOutGetTheirOwnClient() throws {
        let server = try RedisServerProcess()
        let first = try makeCache(server.url)
        let otherPool = try makeCache(server.url, [("pool_size", "7")])
        let otherDatabase = try makeCache(server.url + "/2")
        let otherBreaker = try makeCache(server.url, [("failure_threshold", "9")])
        let ownClient = try makeCache(server.url, [("redis_client_shared", "0")])
        let all = [first, otherPool, otherDatabase, otherBreaker, ownClient]
        for cache in all { try touch(cache) }
        #expect(try connections(server.url) == all.count)
        for (index, cache) in all.enumerated() {
            #expect(all[(index + 1)...].allSatisfy { client($0) !== client(cache) })
        }
    }

    /// The client's series carry its number: the same in every cache on it, another for a cache
    /// with its own client; a cache's own Redis counters carry none.
    @Test func theClientsSeriesNameTheClient() throws {
        let server = try RedisServerProcess()
        let a = try makeCache(server.url), b = try makeCache(server.url)
        let own = try makeCache(server.url, [("redis_client_shared", "0")])
        func poolSizeLine(_ cache: Cache) -> String? {
            cache.metricsText().split(separator: "\n").first { $0.hasPrefix("cachekit_redis_pool_size{") }.map(String.init)
        }
        let shared = try #require((a.secondTier as? RedisL2)?.clientLease.clientID)
        let separate = try #require((own.secondTier as? RedisL2)?.clientLease.clientID)
        #expect(shared != separate)
        #expect(poolSizeLine(a) == "cachekit_redis_pool_size{namespace=\"default\",client=\"\(shared)\"} 50")
        #expect(poolSizeLine(b) == poolSizeLine(a))
        #expect(poolSizeLine(own) == "cachekit_redis_pool_size{namespace=\"default\",client=\"\(separate)\"} 50")
        #expect(a.metricsText().contains("cachekit_redis_replies_refused_total{namespace=\"default\"} 0"))
    }

    @Test func aPasswordIsPartOfTheIdentity() throws {
        let server = try RedisServerProcess(arguments: ["--requirepass", "sesame"])
        let url = "redis://:sesame@127.0.0.1:\(server.port)"
        let a = try makeCache(url)
        let b = try makeCache(url)
        #expect(client(a) === client(b))
        // Same server, another password: never handed the first cache's authenticated pool.
        try touch(a)
        let wrong = try makeCache("redis://:other@127.0.0.1:\(server.port)")
        #expect(client(wrong) !== client(a))
        try? touch(wrong)  // fails open: the server refuses the password
        #expect(wrong.redisStats?.pool.opened == 0)
        #expect(wrong.redisStats?.pool.idle == 0)
    }

    /// Either cache may go first: the other goes on on the same connections; the last one
    /// closes them and leaves the registry empty for those settings.
    @Test func theLastCacheFreedClosesTheClientInEitherOrder() throws {
        let server = try RedisServerProcess()
        let url = try RedisURL.parse(server.url)
        for firstFreed in [0, 1] {
            let pair = [try makeCache(server.url), try makeCache(server.url)]
            for cache in pair { try touch(cache) }
            let settings = try #require(client(pair[0])?.settings)
            var caches: [Cache?] = pair
            _ = consume pair
            #expect(RedisClientRegistry.leaseCount(url: url, settings: settings) == 2)
            #expect(try connections(server.url) == 1)

            caches[firstFreed] = nil
            #expect(RedisClientRegistry.leaseCount(url: url, settings: settings) == 1)
            do {
                let survivor = try #require(caches[1 - firstFreed])
                try touch(survivor)
                #expect(try connections(server.url) == 1)
                #expect(survivor.redisStats?.pool.opened == 1)  // the same connection, not a reopened one
            }

            caches[1 - firstFreed] = nil
            #expect(RedisClientRegistry.leaseCount(url: url, settings: settings) == 0)
            #expect(eventually { try connections(server.url) == 0 })
        }
    }

    /// A child of fork() never uses the parent's pooled connection: a cache it inherited and a
    /// cache it opens on the same settings (the inherited shared client) both work on a
    /// connection of the child's own. The exit status says which check failed.
    @Test func aForkedChildGetsFreshConnections() throws {
        let server = try RedisServerProcess()
        let parentCache = try makeCache(server.url)
        try touch(parentCache)
        #expect(try connections(server.url) == 1)

        let child = fork()
        if child == 0 {
            alarm(20)  // a child stuck on an inherited lock dies of SIGALRM instead of hanging the suite
            var code: Int32 = 0
            func check(_ ok: Bool, _ failure: Int32) { if code == 0, !ok { code = failure } }
            check((try? touch(parentCache)) != nil, 10)
            let opened = try? makeCache(server.url)
            check(opened.map { client($0) === client(parentCache) } ?? false, 11)
            check(opened.map { (try? touch($0)) != nil } ?? false, 12)
            let pool = parentCache.redisStats?.pool
            check(pool?.abandoned == 1, 13)  // the parent's idle connection, let go without I/O
            check(pool?.opened == 1, 14)     // one of the child's own, shared by both caches
            check((try? connections(server.url)) == 2, 15)
            _exit(code)
        }
        #expect(child > 0)
        var status: Int32 = 0
        #expect(waitpid(child, &status, 0) == child)
        #expect(status & 0x7f == 0, "child died of signal \(status & 0x7f)")
        #expect((status >> 8) & 0xff == 0, "child check \((status >> 8) & 0xff) failed")

        // The parent's connection was never written to by the child.
        try touch(parentCache)
        #expect(parentCache.redisStats?.pool.opened == 1)
    }
}

private extension Cache {
    var redisStats: ReliabilitySnapshot? { (secondTier as? RedisL2)?.reliabilitySnapshot }
}
