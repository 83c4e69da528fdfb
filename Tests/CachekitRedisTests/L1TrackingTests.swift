import CachekitCore
import Glibc
import Testing
@testable import CachekitRedis

/// l1_tracking against real redis-server processes: a change made by another writer drops this
/// cache's L1 copy, its own writes stay in L1, a restart of Redis flushes L1, and one process
/// holds one subscriber connection per server however many caches it makes.
@Suite(.serialized) struct L1TrackingTests {
    /// A cache on `url`; `l1: false` makes a writer with no L1 and no tracking (another process, as Redis sees it).
    private func makeCache(_ url: String, prefix: String = "trk:", l1: Bool = true, tracking: Bool = true) throws -> Cache {
        let config = CacheConfig()
        try config.set("redis_url", url)
        try config.set("key_prefix", prefix)
        try config.set("l1_tracking", tracking ? "1" : "0")
        if !l1 { try config.set("l1_max_bytes", "0") }
        return try Cache.open(config: config)
    }

    /// `value` as a MessagePack fixstr (under 32 bytes), the form the cache stores.
    private func put(_ cache: Cache, _ key: String, _ value: String) throws {
        let document = [UInt8(0xa0 | value.utf8.count)] + Array(value.utf8)
        try Array(key.utf8).withUnsafeBytes { k in try document.withUnsafeBytes { try cache.set(k, $0, ttlSeconds: 60) } }
    }

    private func read(_ cache: Cache, _ key: String) throws -> String? {
        try Array(key.utf8).withUnsafeBytes { k -> String? in
            guard let value = try cache.get(k) else { return nil }
            return String(decoding: value.array.dropFirst(), as: UTF8.self)
        }
    }

    /// Polls `condition` every 5 ms for up to 10 s (a bound for a loaded machine, not a timing
    /// claim); a throw counts as not yet.
    private func eventually(_ condition: () throws -> Bool) -> Bool {
        for _ in 0..<2000 {
            if (try? condition()) == true { return true }
            usleep(5_000)
        }
        return false
    }

    /// Clients with the pub/sub flag, as CLIENT LIST shows them.
    private func subscriberConnections(_ url: String) throws -> Int {
        let connection = try RedisConnection.open(try RedisConnectionOptions(url: try RedisURL.parse(url)), deadline: .after(milliseconds: 2_000))
        defer { connection.close() }
        guard case .bulk(let text) = try connection.call(["CLIENT", "LIST"], limits: .scanPage, deadline: .after(milliseconds: 2_000)) else {
            throw TestFailure("CLIENT LIST did not answer text")
        }
        return String(decoding: text, as: UTF8.self).split(separator: "\n").filter { line in
            line.split(separator: " ").contains { $0.hasPrefix("flags=") && $0.contains("P") }
        }.count
    }

    @Test func anotherWritersChangeDropsTheCopyAndOwnWritesStay() throws {
        let server = try RedisServerProcess()
        let cache = try makeCache(server.url)
        let writer = try makeCache(server.url, l1: false, tracking: false)
        #expect(eventually { cache.trackingCounters.tracking })

        try put(cache, "k", "mine")
        #expect(eventually { cache.trackingCounters.ownWritesKept == 1 })
        let before = cache.statsSnapshot()
        #expect(try read(cache, "k") == "mine")
        #expect(cache.statsSnapshot().l1Hits == before.l1Hits + 1)  // the own write's report left it in L1

        try put(writer, "k", "theirs")
        #expect(eventually { try read(cache, "k") == "theirs" })
        #expect(cache.trackingCounters.dropped >= 1)
        let afterRefill = cache.statsSnapshot()
        #expect(try read(cache, "k") == "theirs")
        #expect(cache.statsSnapshot().l1Hits == afterRefill.l1Hits + 1)  // read back from Redis into L1

        try Array("k".utf8).withUnsafeBytes { try writer.delete($0) }
        #expect(eventually { try read(cache, "k") == nil })
    }

    @Test func aRedisRestartFlushesL1() throws {
        var server: RedisServerProcess? = try RedisServerProcess()
        let port = server!.port, url = server!.url
        let cache = try makeCache(url)
        #expect(eventually { cache.trackingCounters.tracking })
        try put(cache, "k", "old")
        #expect(try read(cache, "k") == "old")
        let flushes = cache.trackingCounters.gapFlushes

        server?.stop()
        server = nil
        #expect(eventually { !cache.trackingCounters.tracking })
        let restarted = try RedisServerProcess(port: port)
        let writer = try makeCache(restarted.url, l1: false, tracking: false)
        try put(writer, "k", "new")
        #expect(eventually { cache.trackingCounters.gapFlushes > flushes })
        #expect(try read(cache, "k") == "new")
    }

    @Test func oneSubscriberConnectionForManyCachesAndReportsFanOut() throws {
        let server = try RedisServerProcess()
        var caches: [Cache] = []
        for _ in 0..<5 { caches.append(try makeCache(server.url)) }
        #expect(eventually { caches.allSatisfy { $0.trackingCounters.tracking } })
        try put(caches[0], "kept", "across the swap")
        #expect(eventually { caches[0].trackingCounters.ownWritesKept == 1 })
        caches.append(try makeCache(server.url, prefix: "other:"))  // a prefix the first connection does not cover
        #expect(eventually { caches.allSatisfy { $0.trackingCounters.tracking } })
        // The next connection was made before the first was let go: no gap, so no flush here.
        #expect(caches[0].trackingCounters.gapFlushes == 1)
        #expect(try Array("kept".utf8).withUnsafeBytes { try caches[0].getLocal($0) != nil })
        #expect(eventually { try subscriberConnections(server.url) == 1 })  // the swapped-out one is closed

        for cache in caches.prefix(5) { try put(cache, "shared", "v1") }
        #expect(try caches.prefix(5).allSatisfy { try read($0, "shared") == "v1" })
        let writer = try makeCache(server.url, l1: false, tracking: false)
        try put(writer, "shared", "v2")
        #expect(eventually { try caches.prefix(5).allSatisfy { try read($0, "shared") == "v2" } })

        caches.removeAll()
        #expect(eventually { try subscriberConnections(server.url) == 0 })
    }

    /// Readers fill L1 from Redis while another writer keeps changing the keys: once the last
    /// report is in, every read returns what Redis holds. (The narrow race of a fill against a
    /// report is rarely hit here; L1CoherenceTests drives it step by step.)
    @Test func concurrentFillsNeverOutliveTheLastReport() throws {
        let server = try RedisServerProcess()
        let cache = try makeCache(server.url)
        let writer = try makeCache(server.url, l1: false, tracking: false)
        #expect(eventually { cache.trackingCounters.tracking })
        let keys = (0..<8).map { "race:\($0)" }
        for key in keys { try put(writer, key, "v0") }
        let done = Locked(false)
        DispatchGroupLite.run(threads: 4) { thread in
            if thread == 0 {
                for round in 1...400 { try? put(writer, keys[round % keys.count], "v\(round)") }
                done.withLock { $0 = true }
                return
            }
            var index = thread
            while !done.withLock({ $0 }) {
                _ = try? read(cache, keys[index % keys.count])
                index &+= 1
            }
        }
        // Reports arrive in order: once the marker's report has dropped its copy, all earlier ones are applied.
        try put(writer, "race:marker", "0")
        #expect(try read(cache, "race:marker") == "0")
        try put(writer, "race:marker", "1")
        #expect(eventually { (try? Array("race:marker".utf8).withUnsafeBytes { try cache.getLocal($0) != nil }) == false })
        for key in keys { #expect(try read(cache, key) == read(writer, key)) }
    }

    @Test func aServerRefusingTrackingLeavesTheListenerWorking() throws {
        let server = try RedisServerProcess(arguments: ["--rename-command", "CLIENT", ""])  // as an old Redis or an ACL would
        let config = CacheConfig()
        try config.set("redis_url", server.url)
        try config.set("invalidation_listener", "1")
        let cache = try Cache.open(config: config)
        #expect(eventually { cache.listenerCounters.subscribed })
        #expect(!cache.trackingCounters.tracking)
        try put(cache, "func:m.f:args:a", "v")
        let publisher = try RedisConnection.open(try RedisConnectionOptions(url: try RedisURL.parse(server.url)), deadline: .after(milliseconds: 2_000))
        defer { publisher.close() }
        let event = try #require(Array("func:m.f:args:a".utf8).withUnsafeBytes { InvalidationEvent.encode(registryId: Array("ck:reg::00ff".utf8), key: $0) })
        _ = try publisher.call(["PUBLISH", .bytes(InvalidationEvent.channel), .bytes(event)], limits: .small, deadline: .after(milliseconds: 2_000))
        #expect(eventually { cache.listenerCounters.applied == 1 })
        #expect(try Array("func:m.f:args:a".utf8).withUnsafeBytes { try cache.getLocal($0) != nil } == false)
    }

    @Test func trackingOffKeepsTheCopyForL1TTL() throws {
        let server = try RedisServerProcess()
        let cache = try makeCache(server.url, tracking: false)
        let writer = try makeCache(server.url, l1: false, tracking: false)
        try put(cache, "k", "old")
        try put(writer, "k", "new")
        usleep(300_000)  // time for a report, had tracking been on
        #expect(try read(cache, "k") == "old")
        #expect(cache.trackingCounters == TrackingCounters())
        #expect(try subscriberConnections(server.url) == 0)
    }
}
