import Glibc
import Testing
@testable import CachekitCore

/// The cache's tier logic against the in-memory L2: fill, TTL capping, fail-open, registry.
@Suite struct CacheTierTests {
    /// The MessagePack document "value": what a host stores.
    static let document: [UInt8] = [0xa5] + Array("value".utf8)

    static func makeCache(_ store: FakeL2Store, l1: Bool = true) throws -> Cache {
        let config = CacheConfig()
        if !l1 { try config.set("l1_max_bytes", "0") }
        return try Cache(config: config) { _ in store }
    }

    static func get(_ cache: Cache, _ key: String) throws -> [UInt8]? {
        try Array(key.utf8).withUnsafeBytes { try cache.get($0)?.array }
    }

    static func getLocal(_ cache: Cache, _ key: String) throws -> [UInt8]? {
        try Array(key.utf8).withUnsafeBytes { try cache.getLocal($0)?.array }
    }

    static func set(_ cache: Cache, _ key: String, ttl: Int? = nil) throws {
        try Array(key.utf8).withUnsafeBytes { k in
            try document.withUnsafeBytes { v in try cache.set(k, v, ttlSeconds: ttl) }
        }
    }

    @Test func l2HitFillsL1() throws {
        let store = FakeL2Store()
        try Self.set(Self.makeCache(store, l1: false), "k")  // another process writes Redis only
        let reader = try Self.makeCache(store)
        #expect(try Self.getLocal(reader, "k") == nil)
        #expect(try Self.get(reader, "k") == Self.document)
        #expect(store.calls.last == "getWithTTL")
        #expect(try Self.getLocal(reader, "k") == Self.document)  // now in L1
        let callsBefore = store.calls.count
        #expect(try Self.get(reader, "k") == Self.document)
        #expect(store.calls.count == callsBefore)  // served by L1, no L2 call
        let stats = reader.statsSnapshot()
        #expect(stats.l2Hits == 1 && stats.l1Hits >= 1 && stats.misses == 0)
    }

    static let masterA = String(repeating: "a1", count: 32), masterB = String(repeating: "b2", count: 32)

    static func makeCache(_ store: FakeL2Store, options: [(String, String)]) throws -> Cache {
        let config = CacheConfig()
        for (name, value) in options { try config.set(name, value) }
        return try Cache(config: config) { _ in store }
    }

    /// An entry this reader cannot read (a key it lacks, another mode) stays in L2 and is counted;
    /// one that fails authentication under a key it holds is deleted.
    @Test func foreignEntriesStayAndTamperedOnesGo() throws {
        let store = FakeL2Store()
        let key = Array("t:default:k".utf8)
        try Self.set(Self.makeCache(store, options: [("mode", "secure"), ("master_key", Self.masterB)]), "k")
        let written = try #require(store.stored(key))
        for options in [[("mode", "secure"), ("master_key", Self.masterA)], [("mode", "plain")]] {
            let reader = try Self.makeCache(store, options: options)
            #expect(try Self.get(reader, "k") == nil)
            #expect(store.stored(key) == written)
            let stats = reader.statsSnapshot()
            #expect(stats.foreignEntries == 1 && stats.decodeErrors == 1)
        }
        var tampered = written
        tampered[tampered.count - 1] ^= 1
        try key.withUnsafeBytes { k in try tampered.withUnsafeBytes { try store.set(Array(k), $0, ttlSeconds: 0) } }
        let holder = try Self.makeCache(store, options: [("mode", "secure"), ("master_key", Self.masterB)])
        #expect(try Self.get(holder, "k") == nil)
        #expect(store.stored(key) == nil)
        #expect(holder.statsSnapshot().foreignEntries == 0)
    }

    @Test func withoutL1ReadsAreGetsWithoutTTL() throws {
        let store = FakeL2Store()
        let cache = try Self.makeCache(store, l1: false)
        try Self.set(cache, "k")
        #expect(try Self.get(cache, "k") == Self.document)
        #expect(store.calls == ["set", "get"])
    }

    @Test func l1CopyLivesNoLongerThanL2Entry() throws {
        let store = FakeL2Store()
        try Self.set(Self.makeCache(store, l1: false), "short")
        try Self.set(Self.makeCache(store, l1: false), "forever")
        store.remaining(Array("t:default:short".utf8), milliseconds: 40)
        store.remaining(Array("t:default:forever".utf8), milliseconds: -1)
        let reader = try Self.makeCache(store)
        #expect(try Self.get(reader, "short") == Self.document)
        #expect(try Self.get(reader, "forever") == Self.document)
        usleep(150_000)
        #expect(try Self.getLocal(reader, "short") == nil)  // capped at Redis's 40 ms
        #expect(try Self.getLocal(reader, "forever") == Self.document)  // l1_ttl (300 s) applies
    }

    @Test func expiredBetweenGetAndPTTLLeavesL1Alone() throws {
        let store = FakeL2Store()
        try Self.set(Self.makeCache(store, l1: false), "k")
        store.remaining(Array("t:default:k".utf8), milliseconds: -2)
        let reader = try Self.makeCache(store)
        #expect(try Self.get(reader, "k") == Self.document)
        #expect(try Self.getLocal(reader, "k") == nil)
    }

    @Test(arguments: [Status.backendUnavailable, Status.backendTimeout])
    func failuresFailOpen(_ status: Status) throws {
        let store = FakeL2Store()
        let cache = try Self.makeCache(store)
        try Self.set(Self.makeCache(store, l1: false), "stored")
        store.failing(with: status)
        #expect(try Self.get(cache, "stored") == nil)  // a miss, not an error
        try Self.set(cache, "written")  // succeeds into L1
        #expect(try Self.get(cache, "written") == Self.document)
        #expect(try Array("stored".utf8).withUnsafeBytes { try cache.exists($0) } == false)
        var hits = 0
        let keys = [Array("stored".utf8), Array("written".utf8)]
        try keys[0].withUnsafeBytes { a in
            try keys[1].withUnsafeBytes { b in hits = try cache.getMany([a, b]) { _, _ in } }
        }
        #expect(hits == 1)
        let stats = cache.statsSnapshot()
        #expect(stats.errors == 4 && stats.misses == 2 && stats.sets == 1)

        // Calls about Redis itself report the status.
        let delete = #expect(throws: CachekitError.self) { try Array("written".utf8).withUnsafeBytes { try cache.delete($0) } }
        #expect(delete?.status == status)
        #expect(try Self.getLocal(cache, "written") == nil)  // L1 is cleared anyway
        let invalidate = #expect(throws: CachekitError.self) { _ = try cache.invalidateNamespace("ns") }
        #expect(invalidate?.status == status)
        #expect(cache.health().l2Status == status)
    }

    @Test func registryCallsReachTheStore() throws {
        let store = FakeL2Store()
        let cache = try Self.makeCache(store)
        let setName = Array("t:default:ck:reg:f".utf8)
        try Array("a".utf8).withUnsafeBytes { k in
            try Self.document.withUnsafeBytes { v in try cache.setTracked(k, v, ttlSeconds: 60, registryId: "ck:reg:f") }
        }
        #expect(store.calls == ["setTracked"])
        #expect(try Array("b".utf8).withUnsafeBytes { try cache.trackKey(registryId: "ck:reg:f", key: $0) })
        #expect(store.state.withLock { $0.sets[setName] } == [Array("a".utf8), Array("b".utf8)])

        let published = try Array("a".utf8).withUnsafeBytes { try cache.publishInvalidation(registryId: "ck:reg:f", key: $0) }
        #expect(published)
        let message = try #require(store.state.withLock { $0.published.first })
        #expect(message.channel == InvalidationEvent.channel)
        #expect(message.message.withUnsafeBytes { InvalidationEvent.decode($0) }
            == InvalidationEvent(registryId: Array("ck:reg:f".utf8), key: Array("a".utf8)))

        let removed = try Array("c".utf8).withUnsafeBytes { try cache.drainRegistry("ck:reg:f", localKeys: [$0]) }
        #expect(removed == 3)  // a and b popped, c local
        #expect(store.stored(Array("t:default:a".utf8)) == nil)
        #expect(try Self.getLocal(cache, "a") == nil)
        #expect(store.calls.suffix(2) == ["drain", "unlink"])

        #expect(throws: CachekitError.self) { _ = try cache.drainRegistry("not-a-registry", localKeys: []) }
    }
}
