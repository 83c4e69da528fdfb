import Testing
@testable import CachekitCore

/// set_many, delete_many and the TTL read against the in-memory L2: per-key statuses, both
/// tiers updated as the single calls update them, and the fail-open rules.
@Suite struct CacheBulkTests {
    static let document: [UInt8] = [0xa5] + Array("value".utf8)

    static func makeCache(_ store: FakeL2Store?, options: [(String, String)] = []) throws -> Cache {
        let config = CacheConfig()
        for (name, value) in options { try config.set(name, value) }
        return try Cache(config: config) { _ in store }
    }

    static func withKeys<R>(_ keys: [[UInt8]], _ body: ([UnsafeRawBufferPointer]) throws -> R) rethrows -> R {
        // The arrays outlive the call; their storage is contiguous and stable while unmodified.
        try body(keys.map { key in UnsafeRawBufferPointer(start: key.withUnsafeBytes { $0.baseAddress }, count: key.count) })
    }

    static func setMany(_ cache: Cache, _ keys: [String], values: [[UInt8]]? = nil, ttl: Int? = nil) throws -> Cache.BulkOutcome {
        let keyBytes = keys.map { Array($0.utf8) }
        let valueBytes = values ?? keys.map { _ in document }
        return try withKeys(keyBytes) { k in try withKeys(valueBytes) { v in try cache.setMany(k, v, ttlSeconds: ttl) } }
    }

    static func deleteMany(_ cache: Cache, _ keys: [String]) -> Cache.BulkOutcome {
        withKeys(keys.map { Array($0.utf8) }) { cache.deleteMany($0) }
    }

    static func ttl(_ cache: Cache, _ key: String) throws -> Int64? {
        try Array(key.utf8).withUnsafeBytes { try cache.remainingTTLSeconds($0) }
    }

    static func getLocal(_ cache: Cache, _ key: String) throws -> [UInt8]? {
        try Array(key.utf8).withUnsafeBytes { try cache.getLocal($0)?.array }
    }

    @Test func setManyWritesBothTiersAndReportsEachKey() throws {
        let store = FakeL2Store()
        let cache = try Self.makeCache(store, options: [("max_value_size", "400")])
        var seed: UInt32 = 1  // incompressible bytes, so the entry stays larger than 400
        let large = [0xc5, 0x02, 0x00] + (0..<512).map { _ -> UInt8 in
            seed = seed &* 1_103_515_245 &+ 12_345
            return UInt8(truncatingIfNeeded: seed >> 16)
        }
        let outcome = try Self.setMany(cache, ["a", "", "big", "b"], values: [Self.document, Self.document, large, Self.document])
        #expect(outcome.statuses == [.ok, .invalidKey, .valueTooLarge, .ok])
        #expect(outcome.firstFailure?.status == .invalidKey)
        for key in ["a", "b"] {
            #expect(store.stored(cache.prefix + Array(key.utf8)) != nil)
            #expect(try Self.getLocal(cache, key) == Self.document)
        }
        #expect(store.stored(cache.prefix + Array("big".utf8)) == nil)
        #expect(cache.statsSnapshot().sets == 2)
    }

    @Test func setManyFailsOpenWhenRedisFails() throws {
        let store = FakeL2Store()
        let cache = try Self.makeCache(store)
        store.failing(with: .backendUnavailable)
        let outcome = try Self.setMany(cache, ["a", "b"])
        #expect(outcome.statuses == [.ok, .ok] && outcome.firstFailure == nil)
        #expect(try Self.getLocal(cache, "a") == Self.document)
        #expect(cache.statsSnapshot().errors == 1)
    }

    @Test func deleteManyReportsWhichKeysExisted() throws {
        let store = FakeL2Store()
        let cache = try Self.makeCache(store)
        _ = try Self.setMany(cache, ["a", "b"])
        let outcome = Self.deleteMany(cache, ["a", "missing", "", "b"])
        #expect(outcome.statuses == [.ok, .miss, .invalidKey, .ok])
        #expect(store.stored(cache.prefix + Array("a".utf8)) == nil)
        #expect(try Self.getLocal(cache, "b") == nil)
    }

    @Test func deleteManyReportsARedisFailureAndStillClearsL1() throws {
        let store = FakeL2Store()
        let cache = try Self.makeCache(store)
        _ = try Self.setMany(cache, ["a", "b"])
        store.failing(with: .backendUnavailable)
        let outcome = Self.deleteMany(cache, ["a", "b"])
        #expect(outcome.statuses == [.backendUnavailable, .backendUnavailable])
        #expect(outcome.firstFailure?.status == .backendUnavailable)
        #expect(try Self.getLocal(cache, "a") == nil && Self.getLocal(cache, "b") == nil)
    }

    @Test func deleteManyWithoutRedisAnswersFromL1() throws {
        let cache = try Self.makeCache(nil)
        _ = try Self.setMany(cache, ["a"])
        #expect(Self.deleteMany(cache, ["a", "a"]).statuses == [.ok, .miss])
    }

    @Test func ttlIsRedisAnswerRoundedAsRedisRounds() throws {
        let store = FakeL2Store()
        let cache = try Self.makeCache(store)
        _ = try Self.setMany(cache, ["a", "forever"], ttl: 60)
        let full = cache.prefix + Array("a".utf8)
        store.remaining(full, milliseconds: 41_499)
        #expect(try Self.ttl(cache, "a") == 41)
        store.remaining(full, milliseconds: 41_500)
        #expect(try Self.ttl(cache, "a") == 42)
        store.remaining(cache.prefix + Array("forever".utf8), milliseconds: -1)
        #expect(try Self.ttl(cache, "forever") == -1)
        #expect(try Self.ttl(cache, "absent") == nil)
        #expect(throws: CachekitError.self) { try Self.ttl(cache, "") }
    }

    @Test func ttlIsL1sAnswerWithoutRedisOrWhenItFails() throws {
        // Without Redis the lifetime is L1's, which l1_ttl caps (0: no cap).
        let local = try Self.makeCache(nil, options: [("l1_ttl", "0")])
        _ = try Self.setMany(local, ["a"], ttl: 30)
        _ = try Self.setMany(local, ["forever"], ttl: 0)
        #expect(try Self.ttl(local, "a") == 30)
        #expect(try Self.ttl(local, "forever") == -1)
        let capped = try Self.makeCache(nil, options: [("l1_ttl", "20")])
        _ = try Self.setMany(capped, ["forever"], ttl: 0)
        #expect(try Self.ttl(capped, "forever") == 20)
        #expect(try Self.ttl(local, "absent") == nil)
        let store = FakeL2Store()
        let cache = try Self.makeCache(store)
        _ = try Self.setMany(cache, ["a"], ttl: 30)
        store.failing(with: .backendUnavailable)
        #expect(try Self.ttl(cache, "a") == 30)
        #expect(cache.statsSnapshot().errors == 1)
    }
}
