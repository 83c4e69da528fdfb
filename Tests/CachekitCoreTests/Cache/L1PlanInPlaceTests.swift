import Foundation
import Synchronization
import Testing
@testable import CachekitCore

/// Secure L1 hits decrypt straight from the slot's ciphertext inside the read gate
/// (`L1Cache.get(_:openingPlan:)`, `Cache.openFromL1`): the opener sees the slot's own bytes,
/// anything it declines or fails is served from a copy as before, an entry that authenticates
/// but does not unwrap is dropped only if no newer write replaced it, and concurrent hits and
/// writes on one secure key always return a whole document. Run under ThreadSanitizer too
/// (`swift test --sanitize=thread --filter Plan`).
@Suite struct L1PlanInPlaceTests {
    private static let key = Array("k".utf8)
    private static let stored: [UInt8] = Array(0..<40)
    private static let plan: [UInt8] = Array(200..<216)

    private static func l1WithPlannedEntry() -> L1Cache {
        let l1 = L1Cache(.init(maxBytes: 1 << 20, maxEntries: 64))
        key.withUnsafeBytes { k in
            stored.withUnsafeBytes { s in plan.withUnsafeBytes { p in _ = l1.set(k, s, plan: p, ttlNanoseconds: 0) } }
        }
        return l1
    }

    private enum Outcome: Equatable { case opened([UInt8]), copied([UInt8], planCount: Int), miss }

    private static func read(_ l1: L1Cache, _ key: [UInt8] = key,
                             _ open: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws(CachekitError) -> OwnedBytes?) throws -> Outcome {
        try key.withUnsafeBytes { k throws(CachekitError) -> Outcome in
            guard let read = try l1.get(k, openingPlan: open) else { return .miss }
            switch consume read {
            case .opened(let bytes, _): return .opened(bytes.array)
            case .copied(let hit, _): return .copied(hit.bytes.array, planCount: hit.planCount)
            }
        }
    }

    @Test func theOpenerReadsTheSlotsOwnStoredBytesAndPlan() throws {
        let l1 = Self.l1WithPlannedEntry()
        var seen: ([UInt8], [UInt8])?
        let outcome = try Self.read(l1) { stored, plan throws(CachekitError) in
            seen = (Array(stored), Array(plan))
            return try OwnedBytes(copying: UnsafeRawBufferPointer(rebasing: stored[..<3]))
        }
        #expect(outcome == .opened([0, 1, 2]))
        #expect(seen?.0 == Self.stored && seen?.1 == Self.plan)
        #expect(l1.usage.hits == 1)
        #expect(try Self.read(l1, Array("other".utf8)) { _, _ in nil } == .miss)
    }

    /// Declined (nil) or failed: the entry is copied out as `get` copies it, and still counted
    /// as a hit (the caller decides whether the copy decodes).
    @Test(arguments: [false, true])
    func aDeclinedOrFailedOpenReturnsACopy(_ fails: Bool) throws {
        let l1 = Self.l1WithPlannedEntry()
        let outcome = try Self.read(l1) { _, _ throws(CachekitError) -> OwnedBytes? in
            if fails { throw CachekitError(.authenticationFailed, "test: refused") }
            return nil
        }
        #expect(outcome == .copied(Self.stored + Self.plan, planCount: Self.plan.count))
        #expect(l1.usage.hits == 1)
    }

    @Test func anEntryWithoutAPlanIsCopiedWithoutCallingTheOpener() throws {
        let l1 = L1Cache(.init(maxBytes: 1 << 20, maxEntries: 64))
        Self.key.withUnsafeBytes { k in Self.stored.withUnsafeBytes { _ = l1.set(k, $0, ttlNanoseconds: 0) } }
        var called = false
        let outcome = try Self.read(l1) { _, _ in called = true; return nil }
        #expect(outcome == .copied(Self.stored, planCount: 0))
        #expect(!called)
    }

    @Test func removeIfSerialSparesANewerWrite() throws {
        let l1 = Self.l1WithPlannedEntry()
        let serial = { () throws -> UInt64? in
            try Self.key.withUnsafeBytes { k throws(CachekitError) -> UInt64? in
                guard let read = try l1.get(k, openingPlan: { _, _ in nil }) else { return nil }
                switch consume read {
                case .opened(_, let serial): return serial
                case .copied(_, let serial): return serial
                }
            }
        }
        let first = try #require(try serial())
        Self.key.withUnsafeBytes { k in
            Self.stored.withUnsafeBytes { s in Self.plan.withUnsafeBytes { p in _ = l1.set(k, s, plan: p, ttlNanoseconds: 0) } }
        }
        let second = try #require(try serial())
        #expect(first != second)
        Self.key.withUnsafeBytes { k in
            #expect(!l1.remove(k, ifSerial: first))
            #expect(l1.contains(k))
            #expect(l1.remove(k, ifSerial: second))
            #expect(!l1.contains(k))
        }
    }

    /// An L1 entry whose ciphertext authenticates but whose envelope does not check (its data
    /// re-encrypted with one byte changed, so the checksum fails after the gate): a miss, one
    /// decode error, not counted as tampering, and the copy leaves L1.
    @Test func anAuthenticEnvelopeThatFailsItsChecksumIsDropped() throws {
        let cache = try L1PlanTests.secureCache()
        try L1PlanTests.set(cache, "k")
        let full = cache.prefix + Array("k".utf8)
        let (stored, plan) = try #require(try L1PlanTests.l1Copy(cache, full))
        let keyring = try #require(cache.planKeyring)
        let offset = Int(plan[0]) | Int(plan[1]) << 8 | Int(plan[2]) << 16 | Int(plan[3]) << 24
        let fingerprintCount = Int(plan[5])
        let tenantCount = Int(plan[6 + fingerprintCount]) | Int(plan[7 + fingerprintCount]) << 8
        let aad = Array(plan[(8 + fingerprintCount + tenantCount)...])
        var envelope = try keyring.decrypt(payload: Array(stored[offset...]), aad: aad, tenant: "default",
                                           fingerprint: String(decoding: plan[6..<(6 + fingerprintCount)], as: UTF8.self))
        // A byte of the document, held verbatim in the envelope's literals-only block.
        let marker = Array("plaintext-marker".utf8)
        let at = try #require((0...(envelope.count - marker.count)).first { Array(envelope[$0..<($0 + marker.count)]) == marker })
        envelope[at] ^= 0x01
        let resealed = try keyring.encrypt(plaintext: envelope, aad: aad, tenant: "default")
        let altered = Array(stored[..<offset]) + resealed.payload
        full.withUnsafeBytes { k in
            altered.withUnsafeBytes { s in plan.withUnsafeBytes { p in _ = cache.l1.set(k, s, plan: p, ttlNanoseconds: 0) } }
        }
        #expect(try L1PlanTests.getLocal(cache, "k") == nil)
        let stats = cache.statsSnapshot()
        #expect(stats.decodeErrors == 1 && stats.decryptTamperedL1 == 0)
        #expect(try L1PlanTests.l1Copy(cache, full) == nil)
    }

    /// Three readers hit one secure key (decrypting in the gate, or from a copy when another
    /// reader has the key's spare context) while a writer replaces it: every hit is one whole
    /// version of the document, and nothing fails to decode.
    @Test func concurrentSecureHitsWhileTheKeyIsRewritten() throws {
        let cache = try L1PlanTests.secureCache()
        let versions = (0..<4).map { v in L1PlanTests.document + Array(repeating: UInt8(v), count: 20 * v) }
        let key = Array("k".utf8)
        try key.withUnsafeBytes { k in try versions[0].withUnsafeBytes { try cache.set(k, $0, ttlSeconds: nil) } }
        let writerDone = Atomic<Bool>(false), bad = Atomic<Int>(0), hits = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 4) { thread in
            if thread == 0 {
                for round in 1...300 {
                    let version = versions[round % versions.count]
                    key.withUnsafeBytes { k in version.withUnsafeBytes { _ = try? cache.set(k, $0, ttlSeconds: nil) } }
                }
                writerDone.store(true, ordering: .releasing)
                return
            }
            var reads = 0
            while !writerDone.load(ordering: .acquiring) || reads < 300 {
                reads += 1
                guard let value = try? key.withUnsafeBytes({ try cache.getLocal($0)?.array }) else {
                    bad.add(1, ordering: .relaxed)
                    continue
                }
                if versions.contains(value) { hits.add(1, ordering: .relaxed) } else { bad.add(1, ordering: .relaxed) }
            }
        }
        #expect(bad.load(ordering: .relaxed) == 0)
        #expect(hits.load(ordering: .relaxed) >= 900)
        #expect(cache.statsSnapshot().decodeErrors == 0)
    }
}
