import Testing
@testable import CachekitCore

/// The ordering rules of l1_tracking, driven directly (the subscriber's calls made by hand).
@Suite struct L1CoherenceTests {
    private let key: [UInt8] = Array("p:k".utf8)

    /// A coherence whose tracking Redis has confirmed (`tracking` false: not yet, or lost).
    private func make(tracking: Bool = true) -> (L1Cache, L1Coherence) {
        let l1 = L1Cache(.init(maxBytes: 1 << 20, maxEntries: 100))
        let coherence = L1Coherence(l1: l1, prefix: Array("p:".utf8))
        if tracking { coherence.trackingStarted() }
        return (l1, coherence)
    }

    private func store(_ l1: L1Cache, _ value: String) {
        key.withUnsafeBytes { k in Array(value.utf8).withUnsafeBytes { _ = l1.set(k, $0, ttlNanoseconds: 0) } }
    }

    private func held(_ l1: L1Cache) -> String? {
        key.withUnsafeBytes { k -> String? in
            guard let hit = try? l1.get(k) else { return nil }
            return String(decoding: hit.takeBytes().array, as: UTF8.self)
        }
    }

    @Test func aReportDropsTheCopy() {
        let (l1, coherence) = make()
        store(l1, "old")
        coherence.invalidate(key)
        #expect(held(l1) == nil)
        #expect(coherence.counters.dropped == 1)
    }

    @Test func aFillReadBeforeAReportStaysOut() {
        let (l1, coherence) = make()
        let token = coherence.readToken(key)
        coherence.invalidate(key)  // another writer changed it after the read
        coherence.fill(token) { store(l1, "old") }
        #expect(held(l1) == nil)
        #expect(coherence.counters.fillsSkipped == 1)
        let fresh = coherence.readToken(key)
        coherence.fill(fresh) { store(l1, "new") }
        #expect(held(l1) == "new")
    }

    @Test func theOwnWritesReportKeepsItsValue() {
        let (l1, coherence) = make()
        let token = coherence.beginWrite(key)
        coherence.finishWrite(token, key: key, reached: true) { store(l1, "mine") }
        coherence.invalidate(key)  // the report of that write
        #expect(held(l1) == "mine")
        coherence.invalidate(key)  // a later write by someone else
        #expect(held(l1) == nil)
        #expect(coherence.counters.ownWritesKept == 1)
    }

    @Test func anOwnWriteOvertakenByAnotherLeavesL1Empty() {
        let (l1, coherence) = make()
        store(l1, "old")
        let token = coherence.beginWrite(key)
        coherence.invalidate(key)  // the own write's report, taken as expected
        coherence.invalidate(key)  // another writer's, before the own write landed in L1
        coherence.finishWrite(token, key: key, reached: true) { store(l1, "mine") }
        #expect(held(l1) == nil)
    }

    @Test func aFailedWriteExpectsNoReport() {
        let (l1, coherence) = make()
        let token = coherence.beginWrite(key)
        coherence.finishWrite(token, key: key, reached: false) { store(l1, "mine") }
        coherence.invalidate(key)  // not this write's: another writer's
        #expect(held(l1) == nil)
    }

    /// No report comes for a write made while tracking is down, so none is recorded (they
    /// would pile up while Redis refuses tracking); a report is then never taken as its.
    @Test func writesWhileNotTrackingAreNotRecorded() {
        let (l1, coherence) = make(tracking: false)
        let token = coherence.beginWrite(key)
        coherence.finishWrite(token, key: key, reached: true) { store(l1, "mine") }
        #expect(held(l1) == "mine")
        coherence.invalidate(key)
        #expect(held(l1) == nil)
        #expect(coherence.counters.ownWritesKept == 0)
    }

    @Test func aGapFlushesAndVoidsTokens() {
        let (l1, coherence) = make(tracking: false)
        store(l1, "old")
        let token = coherence.readToken(key)
        coherence.trackingStarted()
        #expect(held(l1) == nil)
        coherence.fill(token) { store(l1, "old") }
        #expect(held(l1) == nil)
        #expect(coherence.counters.gapFlushes == 1)
        #expect(coherence.counters.tracking)
        coherence.trackingLost()
        #expect(!coherence.counters.tracking)
        coherence.serverFlushed()
        #expect(coherence.counters.serverFlushes == 1)
    }
}
