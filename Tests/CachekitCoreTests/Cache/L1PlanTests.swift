import Testing
@testable import CachekitCore

/// Secure L1 entries keep an opening plan (frame header facts and AAD, public bytes) beside their
/// ciphertext: a hit decodes to what a full decode gives, L1 still holds no plaintext, and GCM
/// still authenticates the ciphertext and the plan's AAD at every hit.
@Suite struct L1PlanTests {
    static let master = String(repeating: "c3", count: 32)
    /// A document whose plaintext is easy to look for: {"secret": "plaintext-marker"}.
    static let document: [UInt8] = [0x81, 0xa6] + Array("secret".utf8) + [0xb0] + Array("plaintext-marker".utf8)

    static func secureCache(_ options: [(String, String)] = [("mode", "secure")], store: FakeL2Store? = nil) throws -> Cache {
        let config = CacheConfig()
        for (name, value) in options + [("master_key", master)] { try config.set(name, value) }
        return try Cache(config: config) { _ in store }
    }

    static func set(_ cache: Cache, _ key: String) throws {
        try Array(key.utf8).withUnsafeBytes { k in try document.withUnsafeBytes { try cache.set(k, $0, ttlSeconds: nil) } }
    }

    static func getLocal(_ cache: Cache, _ key: String) throws -> [UInt8]? {
        try Array(key.utf8).withUnsafeBytes { try cache.getLocal($0)?.array }
    }

    /// The L1 copy under a full key: stored bytes and plan.
    static func l1Copy(_ cache: Cache, _ full: [UInt8]) throws -> (stored: [UInt8], plan: [UInt8])? {
        let copy: (bytes: [UInt8], planCount: Int)? = try full.withUnsafeBytes { key in
            guard let hit = try cache.l1.get(key) else { return nil }
            return (hit.bytes.array, hit.planCount)
        }
        guard let (bytes, planCount) = copy else { return nil }
        let storedCount = bytes.count - planCount
        return (Array(bytes[..<storedCount]), Array(bytes[storedCount...]))
    }

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard haystack.count >= needle.count else { return false }
        return (0...(haystack.count - needle.count)).contains { Array(haystack[$0..<($0 + needle.count)]) == needle }
    }

    @Test(arguments: [[("mode", "secure")], [("mode", "interop")]])
    func hitsDecodeThroughThePlanAndL1HoldsNoPlaintext(_ options: [(String, String)]) throws {
        let cache = try Self.secureCache(options)
        try Self.set(cache, "k")
        let full = cache.prefix + Array("k".utf8)
        let copy = try #require(try Self.l1Copy(cache, full))
        #expect(!copy.plan.isEmpty)
        let marker = Array("plaintext-marker".utf8)
        #expect(!Self.contains(copy.stored + copy.plan, marker))
        #expect(try Self.getLocal(cache, "k") == Self.document)
        #expect(cache.statsSnapshot().decodeErrors == 0)
    }

    @Test func anEntryFilledFromL2HasAPlan() throws {
        let store = FakeL2Store()
        try Self.set(try Self.secureCache(store: store), "k")
        let reader = try Self.secureCache(store: store)
        #expect(try Array("k".utf8).withUnsafeBytes { try reader.get($0)?.array } == Self.document)
        let copy = try #require(try Self.l1Copy(reader, reader.prefix + Array("k".utf8)))
        #expect(!copy.plan.isEmpty)
        #expect(try Self.getLocal(reader, "k") == Self.document)
    }

    /// Flipping a byte of the L1 ciphertext, or of the plan's AAD, fails authentication: the
    /// hit reads as a miss, counts as a decode failure, and the copy leaves L1.
    @Test(arguments: [true, false])
    func aTamperedL1CopyFailsAuthentication(_ tamperCiphertext: Bool) throws {
        let cache = try Self.secureCache()
        try Self.set(cache, "k")
        let full = cache.prefix + Array("k".utf8)
        var (stored, plan) = try #require(try Self.l1Copy(cache, full))
        if tamperCiphertext { stored[stored.count - 20] ^= 0x01 } else { plan[plan.count - 1] ^= 0x01 }
        full.withUnsafeBytes { key in
            stored.withUnsafeBytes { s in
                plan.withUnsafeBytes { p in _ = cache.l1.set(key, s, plan: p, ttlNanoseconds: 0) }
            }
        }
        #expect(try Self.getLocal(cache, "k") == nil)
        #expect(cache.statsSnapshot().decodeErrors == 1)
        #expect(try Self.l1Copy(cache, full) == nil)
    }

    /// At the entry level, in every encrypted mode, opening with the plan gives the document a
    /// full decode gives; an unencrypted entry gets no plan.
    @Test(arguments: EntryMode.allCases)
    func planOpensWhatDecodeReads(_ mode: EntryMode) throws {
        let security = EntrySecurity(keyring: try Keyring(masterKeyHex: Self.master))
        let key = "t:default:k"
        try Self.document.withUnsafeBytes { inner in
            let stored = try Entry.encode(inner: inner, mode: mode, key: key, security: security)
            guard let plan = EntryPlan.make(stored.bytes, inner: inner, mode: mode, key: key, security: security) else {
                Issue.record("no plan for an encrypted \(mode.name) entry")
                return
            }
            let opened = try EntryPlan.open(stored.bytes, plan: plan.bytes, keyring: security.keyring)
            let decoded = try Entry.decode(stored.bytes, mode: mode, key: key, security: security)
            #expect(opened.array == decoded.array && decoded.array == Self.document)
            // A frame that is not encrypted gets none (interop has no header: its codec makes plans
            // only when it encrypts).
            if mode != .interop {
                let plain = try Entry.encode(inner: inner, mode: mode, key: key, security: nil)
                var madePlan = false
                if EntryPlan.make(plain.bytes, inner: inner, mode: mode, key: key, security: security) != nil { madePlan = true }
                #expect(!madePlan)
            }
        }
    }
}
