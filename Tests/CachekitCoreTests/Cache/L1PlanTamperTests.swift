import Testing
@testable import CachekitCore

/// A plan's tenant and fingerprint are read as bytes at every hit (no `String` for the default
/// tenant or a matching key): a changed byte, another key or another tenant must still fail
/// (and drop the L1 copy), and a tenant other than the default must still decode.
@Suite struct L1PlanTamperTests {
    /// Plan layout: offset (4), kind (1), fingerprint length (1), fingerprint (32), tenant length
    /// (2), tenant, AAD.
    static let fingerprintStart = 6, tenantStart = 40

    /// Rewrites the L1 copy of "k" with `change` applied to its plan, then reads it back.
    static func hitWithPlan(_ cache: Cache, _ change: (inout [UInt8]) -> Void) throws -> [UInt8]? {
        let full = cache.prefix + Array("k".utf8)
        var (stored, plan) = try #require(try L1PlanTests.l1Copy(cache, full))
        change(&plan)
        full.withUnsafeBytes { key in
            stored.withUnsafeBytes { s in
                plan.withUnsafeBytes { p in _ = cache.l1.set(key, s, plan: p, ttlNanoseconds: 0) }
            }
        }
        return try L1PlanTests.getLocal(cache, "k")
    }

    static func expectRefusedAndDropped(_ cache: Cache, _ change: (inout [UInt8]) -> Void) throws {
        #expect(try hitWithPlan(cache, change) == nil)
        #expect(cache.statsSnapshot().decodeErrors == 1)
        #expect(try L1PlanTests.l1Copy(cache, cache.prefix + Array("k".utf8)) == nil)
    }

    /// "default" read as "defaulu": another tenant's keys, so the AAD's tenant and the key disagree.
    @Test func aChangedTenantFailsAuthentication() throws {
        let cache = try L1PlanTests.secureCache()
        try L1PlanTests.set(cache, "k")
        try Self.expectRefusedAndDropped(cache) { plan in
            #expect(Array(plan[Self.tenantStart..<(Self.tenantStart + 7)]) == Array("default".utf8))
            plan[Self.tenantStart + 6] ^= 0x01
        }
    }

    /// A fingerprint that is not 32 lowercase hex digits is refused before any key is tried.
    @Test func aMalformedFingerprintIsRefused() throws {
        let cache = try L1PlanTests.secureCache()
        try L1PlanTests.set(cache, "k")
        try Self.expectRefusedAndDropped(cache) { plan in plan[Self.fingerprintStart] = UInt8(ascii: "G") }
    }

    /// Fail-closed, a well-formed fingerprint no keyring key has is refused; fail-open the current
    /// key is tried (as a full decode does), and GCM decides.
    @Test(arguments: [true, false])
    func anUnknownFingerprint(_ failClosed: Bool) throws {
        let cache = try L1PlanTests.secureCache([("mode", "secure"), ("encryption_fail_closed", failClosed ? "true" : "false")])
        try L1PlanTests.set(cache, "k")
        let unknown: (inout [UInt8]) -> Void = { plan in
            for index in Self.fingerprintStart..<(Self.fingerprintStart + 32) { plan[index] = UInt8(ascii: "0") }
        }
        if failClosed {
            let error = #expect(throws: CachekitError.self) { try Self.hitWithPlan(cache, unknown) }
            #expect(error?.status == .keyFingerprintMismatch)
            #expect(cache.statsSnapshot().decodeErrors == 1)
            #expect(try L1PlanTests.l1Copy(cache, cache.prefix + Array("k".utf8)) == nil)
        } else {
            #expect(try Self.hitWithPlan(cache, unknown) == L1PlanTests.document)
        }
    }

    /// A plan and ciphertext made under one master key do not open under another.
    @Test func anotherMasterKeyFailsAuthentication() throws {
        let writer = EntrySecurity(keyring: try Keyring(masterKeyHex: L1PlanTests.master))
        let reader = EntrySecurity(keyring: try Keyring(masterKeyHex: String(repeating: "5a", count: 32)))
        let key = "t:default:k"
        try L1PlanTests.document.withUnsafeBytes { inner in
            let stored = try Entry.encode(inner: inner, mode: .auto, key: key, security: writer)
            guard let plan = EntryPlan.make(stored.bytes, inner: inner, mode: .auto, key: key, security: writer) else {
                Issue.record("no plan for an encrypted auto entry")
                return
            }
            #expect(throws: CachekitError.self) { try EntryPlan.open(stored.bytes, plan: plan.bytes, keyring: reader.keyring) }
            #expect(try EntryPlan.open(stored.bytes, plan: plan.bytes, keyring: writer.keyring).array == L1PlanTests.document)
        }
    }

    /// With a deployment_uuid the tenant is not "default": its keys are looked up by name.
    @Test func aNamedTenantDecodesThroughThePlan() throws {
        let uuid = "6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b"
        let cache = try L1PlanTests.secureCache([("mode", "secure"), ("deployment_uuid", uuid)])
        try L1PlanTests.set(cache, "k")
        let full = cache.prefix + Array("k".utf8)
        let copy = try #require(try L1PlanTests.l1Copy(cache, full))
        #expect(L1PlanTests.contains(copy.plan, Array(uuid.utf8)))
        #expect(try L1PlanTests.getLocal(cache, "k") == L1PlanTests.document)
        #expect(try L1PlanTests.getLocal(cache, "k") == L1PlanTests.document)
        #expect(cache.statsSnapshot().decodeErrors == 0)
    }
}
