import Glibc
import Testing
@testable import CachekitCore

@Suite struct L1CacheTests {
    private func key(_ text: String) -> [UInt8] { Array(text.utf8) }

    private func get(_ cache: L1Cache, _ text: String, now: Int64 = 0) throws -> [UInt8]? {
        try key(text).withUnsafeBytes { k -> [UInt8]? in
            guard let hit = try cache.get(k, now: now) else { return nil }
            return hit.bytes.array
        }
    }

    @discardableResult
    private func set(_ cache: L1Cache, _ text: String, _ value: [UInt8], ttl: Int64 = 0, now: Int64 = 0) -> Bool {
        key(text).withUnsafeBytes { k in value.withUnsafeBytes { cache.set(k, $0, ttlNanoseconds: ttl, now: now) } }
    }

    @Test func storesReplacesAndRemoves() throws {
        let cache = L1Cache(.init(maxBytes: 1 << 20, maxEntries: 1000))
        #expect(try get(cache, "a") == nil)
        #expect(set(cache, "a", [1, 2, 3]))
        #expect(try get(cache, "a") == [1, 2, 3])
        #expect(set(cache, "a", [9]))
        #expect(try get(cache, "a") == [9])
        #expect(set(cache, "empty", []))
        #expect(try get(cache, "empty") == [])
        #expect(key("a").withUnsafeBytes { cache.remove($0) })
        #expect(try get(cache, "a") == nil)
        #expect(cache.usage.entries == 1)
    }

    @Test func entriesExpireAtTheirOwnTTL() throws {
        let cache = L1Cache(.init(maxBytes: 1 << 20, maxEntries: 1000))
        set(cache, "short", [1], ttl: 1_000, now: 0)
        set(cache, "long", [2], ttl: 1_000_000, now: 0)
        set(cache, "forever", [3], ttl: 0, now: 0)
        #expect(try get(cache, "short", now: 999) == [1])
        #expect(try get(cache, "short", now: 1_000) == nil)
        #expect(try get(cache, "long", now: 999_999) == [2])
        #expect(try get(cache, "long", now: 1_000_000) == nil)
        #expect(try get(cache, "forever", now: Int64.max - 1) == [3])
        #expect(cache.usage.entries == 1)
    }

    @Test func boundedByBytes() throws {
        let budget = 64 * 1024
        let cache = L1Cache(.init(maxBytes: budget, maxEntries: 1_000_000))
        for i in 0..<2000 { set(cache, "k\(i)", [UInt8](repeating: UInt8(i & 0xff), count: 200)) }
        let usage = cache.usage
        #expect(usage.bytes <= budget)
        #expect(usage.entries > 100)
        #expect(cache.evictions == 2000 - usage.entries)
    }

    @Test func boundedByEntryCount() throws {
        let cache = L1Cache(.init(maxBytes: 1 << 30, maxEntries: 50))
        for i in 0..<1000 { set(cache, "k\(i)", [1]) }
        #expect(cache.usage.entries <= 50)
        #expect(cache.usage.entries >= 40)
    }

    @Test func valueOverAnEighthOfTheBudgetIsNotKept() throws {
        let cache = L1Cache(.init(maxBytes: 80_000, maxEntries: 1000))
        #expect(set(cache, "small", [UInt8](repeating: 1, count: 5_000)))
        #expect(!set(cache, "big", [UInt8](repeating: 1, count: 10_001)))
        #expect(try get(cache, "big") == nil)
        // A too-large write also drops an older value under the key.
        #expect(!set(cache, "small", [UInt8](repeating: 2, count: 20_000)))
        #expect(try get(cache, "small") == nil)
    }

    @Test func decodedViewIsServedAndCharged() throws {
        let cache = L1Cache(.init(maxBytes: 1 << 20, maxEntries: 1000))
        let stored: [UInt8] = [9, 9, 9, 9], view: [UInt8] = [1, 2]
        let kept = key("k").withUnsafeBytes { k in
            stored.withUnsafeBytes { s in view.withUnsafeBytes { cache.set(k, s, decoded: $0, ttlNanoseconds: 0, now: 0) } }
        }
        #expect(kept)
        let hit = try key("k").withUnsafeBytes { k -> ([UInt8], Bool)? in
            guard let hit = try cache.get(k, now: 0) else { return nil }
            return (hit.bytes.array, hit.isDecoded)
        }
        #expect(hit?.0 == view && hit?.1 == true)
        #expect(cache.usage.bytes == 1 + 4 + 2 + L1Cache.entryOverhead)
        #expect(cache.usage.hits == 1)
    }

    @Test func disabledCacheKeepsNothing() throws {
        let cache = L1Cache(.init(maxBytes: 0, maxEntries: 1000))
        #expect(!set(cache, "a", [1]))
        #expect(try get(cache, "a") == nil)
    }

    @Test func prefixRemoval() throws {
        let cache = L1Cache(.init(maxBytes: 1 << 20, maxEntries: 1000))
        for i in 0..<100 { set(cache, "ns:a:\(i)", [1]); set(cache, "ns:b:\(i)", [2]) }
        #expect(key("ns:a:").withUnsafeBytes { cache.removeAll(withPrefix: $0) } == 100)
        #expect(try get(cache, "ns:a:5") == nil)
        #expect(try get(cache, "ns:b:5") == [2])
        #expect(cache.usage.entries == 100)
    }

    /// The point of W-TinyLFU: a hot set survives a scan that would flush an LRU.
    @Test func hotEntriesSurviveAScan() throws {
        let cache = L1Cache(.init(maxBytes: 100 * 300, maxEntries: 1_000_000, shardCount: 1))
        let value = [UInt8](repeating: 0, count: 200)
        for round in 0..<20 {
            for i in 0..<50 {
                if try get(cache, "hot\(i)") == nil { set(cache, "hot\(i)", value) }
            }
            _ = round
        }
        for i in 0..<5000 {
            if try get(cache, "scan\(i)") == nil { set(cache, "scan\(i)", value) }
        }
        var survivors = 0
        for i in 0..<50 where try get(cache, "hot\(i)") != nil { survivors += 1 }
        #expect(survivors >= 45, "only \(survivors) of 50 hot entries survived the scan")
    }

    @Test func manyThreadsStayConsistent() async throws {
        let cache = L1Cache(.init(maxBytes: 256 * 1024, maxEntries: 2000))
        await withTaskGroup(of: Int.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    var wrong = 0
                    for i in 0..<20_000 {
                        let k = Array("k\((i &* 7919 &+ worker) % 3000)".utf8)
                        let expected = [UInt8](k.suffix(4))
                        if i % 3 == 0 {
                            k.withUnsafeBytes { kb in expected.withUnsafeBytes { _ = cache.set(kb, $0, ttlNanoseconds: 0) } }
                        } else if i % 97 == 0 {
                            k.withUnsafeBytes { _ = cache.remove($0) }
                        } else if let got = try? k.withUnsafeBytes({ k -> [UInt8]? in
                            guard let hit = try cache.get(k) else { return nil }
                            return hit.bytes.array
                        }), got != expected {
                            wrong += 1
                        }
                    }
                    return wrong
                }
            }
            var wrong = 0
            for await w in group { wrong += w }
            #expect(wrong == 0)
        }
        let usage = cache.usage
        #expect(usage.entries <= 2000)
        #expect(usage.bytes <= 256 * 1024)
    }

    @Test func frequencySketchCountsAndAges() {
        var sketch = FrequencySketch(expectedEntries: 64)
        for _ in 0..<10 { sketch.increment(42) }
        sketch.increment(7)
        #expect(sketch.frequency(42) >= 9)
        #expect(sketch.frequency(7) == 1) // doorkeeper only
        #expect(sketch.frequency(12345) <= 1)
        // Enough other traffic halves the counts.
        for i in 0..<(sketch.sampleSize + 10) { sketch.increment(UInt64(1_000_000 + i)) }
        #expect(sketch.frequency(42) <= 8)
    }
}

@Suite struct CacheConfigTests {
    /// The config keeps the URL the one grammar parsed (RedisURLTests covers the grammar).
    @Test func redisURLOptionUsesTheOneGrammar() throws {
        let config = CacheConfig()
        try config.set("redis_url", "redis://alice:p%40ss@cache.example:6380/4")
        #expect(config.redisURL?.target == .tcp(RedisHostPort(host: "cache.example", port: 6380)))
        #expect(config.redisURL?.database == 4 && config.redisURL?.username == "alice")
        try config.set("redis_url", "")
        #expect(config.redisURL == nil)
        #expect(throws: CachekitError.self) { try config.set("redis_url", "memcached://x") }
        // ssl_* options need a rediss:// URL and override its query parameters.
        try config.set("redis_url", "redis://h:1/0")
        try config.set("ssl_cert_reqs", "none")
        #expect(throws: CachekitError.self) { try config.effectiveRedisURL() }
        try config.set("redis_url", "rediss://h:1/0?ssl_cert_reqs=required")
        #expect(try config.effectiveRedisURL()?.tls?.certificateRequirement == TLSSettings.CertificateRequirement.none)
        #expect(throws: CachekitError.self) { try config.set("ssl_cert_reqs", "maybe") }
    }

    @Test func environmentUsesCachekitNames() throws {
        let env = [
            "REDIS_URL": "redis://fallback:1/0",
            "CACHEKIT_REDIS_URL": "redis://primary:2/1",
            "CACHEKIT_DEFAULT_TTL": "42",
            "CACHEKIT_L1_MAX_SIZE_MB": "3",
            "CACHEKIT_MAX_VALUE_SIZE": "1000",
            "CACHEKIT_SOCKET_TIMEOUT": "0.5",
            "CACHEKIT_DEPLOYMENT_UUID": "123E4567-E89B-12D3-A456-426614174000",
        ]
        let config = CacheConfig()
        try config.loadEnvironment { env[$0] }
        #expect(config.redisURL?.target == .tcp(RedisHostPort(host: "primary", port: 2)) && config.redisURL?.database == 1)
        #expect(config.effectiveDefaultTTLSeconds == 42)
        #expect(config.l1MaxBytes == 3 * 1_048_576)
        #expect(config.maxValueSize == 1000)
        #expect(config.commandTimeoutMilliseconds == 500)
        #expect(config.tenant == "123e4567-e89b-12d3-a456-426614174000")
        // The deployment UUID selects the encryption tenant; Redis keys stay under "default".
        #expect(config.effectiveKeyPrefix == "t:default:")
        try config.set("mode", "interop")
        #expect(config.effectiveKeyPrefix == "")

        let fallback = CacheConfig()
        try fallback.loadEnvironment { $0 == "REDIS_URL" ? "redis://fallback:1/0" : nil }
        #expect(fallback.redisURL?.target == .tcp(RedisHostPort(host: "fallback", port: 1)))
        #expect(fallback.effectiveKeyPrefix == "t:default:")
    }

    /// CACHEKIT_PREVIOUS_MASTER_KEYS is read before CACHEKIT_MASTER_KEY; setting the current key
    /// must keep the previous keys intact (a regression: it used to wipe them).
    @Test func masterKeyAfterPreviousKeysKeepsThem() throws {
        let current = String(repeating: "ab", count: 32)
        let previous = String(repeating: "cd", count: 32)
        let config = CacheConfig()
        try config.set("previous_master_keys", previous)
        try config.set("master_key", current)
        try config.withMasterKeys { master, previousKeys in
            #expect(master.map { Array($0.bytes) } == Array(current.utf8))
            #expect(previousKeys.map { Array($0.bytes) } == [Array(previous.utf8)])
        }

        let fromEnvironment = CacheConfig()
        try fromEnvironment.loadEnvironment {
            ["CACHEKIT_MASTER_KEY": current, "CACHEKIT_PREVIOUS_MASTER_KEYS": previous][$0]
        }
        try fromEnvironment.withMasterKeys { _, previousKeys in
            #expect(previousKeys.map { Array($0.bytes) } == [Array(previous.utf8)])
        }
    }

    /// The secret options read as bytes keep the string form's rules: commas split the
    /// previous keys, spaces anywhere are dropped, empty items are skipped, at most 3 keys.
    @Test func secretOptionsFromBytes() throws {
        let (a, b) = (String(repeating: "a1", count: 32), String(repeating: "b2", count: 32))
        let config = CacheConfig()
        let list = Array(" \(a.prefix(10)) \(a.dropFirst(10)) ,, \(b) ,".utf8)
        try list.withUnsafeBytes { bytes in try config.setSecret("previous_master_keys", bytes) }
        try config.withMasterKeys { _, previousKeys in
            #expect(previousKeys.map { Array($0.bytes) } == [Array(a.utf8), Array(b.utf8)])
        }
        let four = Array([a, b, a, b].joined(separator: ",").utf8)
        #expect(throws: CachekitError.self) { try four.withUnsafeBytes { try config.setSecret("previous_master_keys", $0) } }
        let url = Array("redis://:p%40ss@h:7/2".utf8)
        try url.withUnsafeBytes { bytes in try config.setSecret("redis_url", bytes) }
        #expect(config.redisURL?.password.map { Array($0.bytes) } == Array("p@ss".utf8))
        try [UInt8]().withUnsafeBytes { bytes in try config.setSecret("redis_url", bytes) }
        #expect(config.redisURL == nil)
        do {
            try [UInt8]().withUnsafeBytes { bytes in try config.setSecret("mode", bytes) }
            Issue.record("setSecret accepted an option that is not secret")
        } catch {
            #expect((error as? CachekitError)?.status == .unknownOption)
        }
    }

    @Test func secretsNeverInMessagesOrDescription() throws {
        let key = String(repeating: "ab", count: 32)
        let config = CacheConfig()
        try config.set("master_key", key)
        try config.set("redis_url", "redis://u:topsecretpw@h:1/0")
        #expect(!config.description.contains(key))
        #expect(!config.description.contains("topsecretpw"))
        do {
            try config.set("previous_master_keys", key)
            Issue.record("the current key was accepted as a previous key")
        } catch {
            #expect(!error.message.contains(key))
        }
        do {
            try config.loadEnvironment { $0 == "CACHEKIT_MASTER_KEY" ? "xyz" + key : nil }
            Issue.record("a malformed master key was accepted")
        } catch {
            #expect(error.message.contains("CACHEKIT_MASTER_KEY"))
            #expect(!error.message.contains(key))
        }
    }
}
