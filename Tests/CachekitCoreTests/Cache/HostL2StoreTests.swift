import Testing
@testable import CachekitCore

/// The cache on a host's second tier (HostL2Store over a HostBackend), and require_tenant_match.
@Suite struct HostL2StoreTests {
    /// A dictionary host: what it stores, the lifetime it reports, the calls it saw.
    final class DictionaryHost: HostBackend, @unchecked Sendable {  // state behind its Locked
        struct State {
            var entries: [[UInt8]: [UInt8]] = [:]
            var ttls: [Int] = []
            var gets = 0
            var lifetime: HostValue.Lifetime = .unknown
            var failing = false
        }

        let state = Locked(State())

        private func check() throws(CachekitError) {
            if state.withLock({ $0.failing }) { throw CachekitError(.backendUnavailable, "the host is down") }
        }

        func get(_ key: [UInt8]) throws(CachekitError) -> HostValue? {
            try check()
            return state.withLock { state in
                state.gets += 1
                return state.entries[key].map { HostValue(bytes: $0, lifetime: state.lifetime) }
            }
        }

        func set(_ key: [UInt8], _ value: UnsafeRawBufferPointer, ttlSeconds: Int) throws(CachekitError) {
            try check()
            state.withLock { $0.entries[key] = Array(value); $0.ttls.append(ttlSeconds) }
        }

        func delete(_ key: [UInt8]) throws(CachekitError) -> Bool {
            try check()
            return state.withLock { $0.entries.removeValue(forKey: key) != nil }
        }

        func exists(_ key: [UInt8]) throws(CachekitError) -> Bool {
            try check()
            return state.withLock { $0.entries[key] != nil }
        }
    }

    static func cache(_ host: DictionaryHost, _ options: [(String, String)] = []) throws -> Cache {
        let config = CacheConfig()
        for (name, value) in options { try config.set(name, value) }
        return try Cache(config: config) { stats in
            HostL2Store(backend: host, defaultTTLSeconds: config.effectiveDefaultTTLSeconds, stats: stats)
        }
    }

    @Test func entriesGoThroughTheHostWithL1InFront() throws {
        let host = DictionaryHost()
        let writer = try Self.cache(host, [("default_ttl", "30")])
        try CacheTierTests.set(writer, "k")
        #expect(host.state.withLock { $0.ttls } == [30])
        let stored = try #require(host.state.withLock { $0.entries[Array("t:default:k".utf8)] })
        #expect(Array(stored.prefix(3)) == Array("CK\u{03}".utf8))  // the entry, not the document
        let reader = try Self.cache(host)
        #expect(try CacheTierTests.get(reader, "k") == CacheTierTests.document)
        #expect(try CacheTierTests.get(reader, "k") == CacheTierTests.document)
        #expect(host.state.withLock { $0.gets } == 1)  // unknown lifetime: L1 keeps the copy
    }

    @Test func aStaleValueIsServedButNotKeptInL1() throws {
        let host = DictionaryHost()
        try CacheTierTests.set(Self.cache(host), "k")
        host.state.withLock { $0.lifetime = .notForL1 }
        let reader = try Self.cache(host)
        #expect(try CacheTierTests.get(reader, "k") == CacheTierTests.document)
        #expect(try CacheTierTests.getLocal(reader, "k") == nil)
        #expect(try CacheTierTests.get(reader, "k") == CacheTierTests.document)
        #expect(host.state.withLock { $0.gets } == 2)
    }

    @Test func aFailingHostFailsOpen() throws {
        let host = DictionaryHost()
        let cache = try Self.cache(host, [("l1_max_entries", "0")])
        try CacheTierTests.set(cache, "k")
        host.state.withLock { $0.failing = true }
        #expect(try CacheTierTests.get(cache, "k") == nil)
        try CacheTierTests.set(cache, "k")  // a write does not fail either
        let stats = cache.statsSnapshot()
        #expect(stats.errors == 2 && stats.l2Errors == 2)
        #expect(stats.l2Operations == 1)  // the first write: each host call is timed
        #expect(throws: CachekitError.self) { try cache.invalidateNamespace("users") }
    }

    /// A key registry drain on a host deletes the keys handed to it (there is no tracking set).
    @Test func aDrainDeletesTheLocalKeys() throws {
        let host = DictionaryHost()
        let cache = try Self.cache(host)
        try CacheTierTests.set(cache, "a")
        try CacheTierTests.set(cache, "b")
        let reached = try Array("a".utf8).withUnsafeBytes { a in try cache.drainRegistry("ck:reg::f", localKeys: [a]) }
        #expect(reached == 1)
        #expect(host.state.withLock { Set($0.entries.keys) } == [Array("t:default:b".utf8)])
    }

    /// Callbacks from several threads at once (ThreadSanitizer runs this suite).
    @Test func concurrentCallersShareOneHost() async throws {
        let host = DictionaryHost()
        let cache = try Self.cache(host, [("l1_max_entries", "16")])
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<4 {
                group.addTask {
                    for round in 0..<200 {
                        let key = "k\((worker &* 7 &+ round) % 32)"
                        try? CacheTierTests.set(cache, key)
                        #expect((try? CacheTierTests.get(cache, key)) == CacheTierTests.document)
                    }
                }
            }
        }
        #expect(host.state.withLock { $0.entries.count } == 32)
        #expect(cache.statsSnapshot().errors == 0)
    }

    static let master = String(repeating: "a1", count: 32)
    static let tenantA = "11111111-1111-4111-8111-111111111111", tenantB = "22222222-2222-4222-8222-222222222222"

    /// Without require_tenant_match a reader opens an entry with its header's tenant (cachekit-py's
    /// single-tenant reader); with it, another tenant's entry is a miss and stays.
    @Test func requireTenantMatchRefusesAnotherTenantsEntry() throws {
        let host = DictionaryHost()
        let secure = [("mode", "secure"), ("master_key", Self.master), ("l1_max_entries", "0")]
        try CacheTierTests.set(Self.cache(host, secure + [("deployment_uuid", Self.tenantA)]), "k")
        let lenient = try Self.cache(host, secure + [("deployment_uuid", Self.tenantB)])
        #expect(try CacheTierTests.get(lenient, "k") == CacheTierTests.document)
        let strict = try Self.cache(host, secure + [("deployment_uuid", Self.tenantB), ("require_tenant_match", "1")])
        #expect(try CacheTierTests.get(strict, "k") == nil)
        #expect(host.state.withLock { $0.entries.count } == 1)  // left for its own tenant
        let own = try Self.cache(host, secure + [("deployment_uuid", Self.tenantA), ("require_tenant_match", "1")])
        #expect(try CacheTierTests.get(own, "k") == CacheTierTests.document)
    }
}
