import Glibc
import Testing
@testable import CachekitCore

/// The fill lock, sliding TTL, stale-if-error, refresh-ahead and fail-closed decryption against
/// the in-memory L2 (FakeL2Store+Coherence.swift).
@Suite struct CoherenceTests {
    static let document: [UInt8] = [0xa5] + Array("value".utf8)
    static let other: [UInt8] = [0xa5] + Array("other".utf8)
    static let full = Array("t:default:k".utf8)
    static let lock = Array("t:default:k:lock".utf8)
    static let foreignToken = Array(String(repeating: "ab", count: 16).utf8)

    static func makeCache(_ store: FakeL2Store, _ options: [(String, String)] = []) throws -> Cache {
        let config = CacheConfig()
        for (name, value) in options { try config.set(name, value) }
        return try Cache(config: config) { _ in store }
    }

    static func getOrCompute(_ cache: Cache, ttl: Int? = 60,
                             _ compute: () throws(CachekitError) -> [UInt8]) throws -> (value: [UInt8], stale: Bool) {
        var stale = false
        let value = try Array("k".utf8).withUnsafeBytes { key in
            try cache.getOrCompute(key, ttlSeconds: ttl, servedStale: &stale, compute).array
        }
        return (value, stale)
    }

    /// The bytes a cache with `options` stores for `value` under "k".
    static func entry(_ value: [UInt8], _ options: [(String, String)] = []) throws -> [UInt8] {
        let scratch = FakeL2Store()
        let writer = try makeCache(scratch, options + [("fill_lock", "0")])
        try Array("k".utf8).withUnsafeBytes { k in try value.withUnsafeBytes { try writer.set(k, $0, ttlSeconds: 60) } }
        return try #require(scratch.stored(full))
    }

    static func lockAttempts(_ state: FakeL2Store.State) -> Int { state.calls.filter { $0 == "acquireLock" }.count }

    // MARK: Fill lock

    @Test func theHolderComputesStoresAndReleases() throws {
        let store = FakeL2Store()
        let cache = try Self.makeCache(store)
        var computes = 0
        let (value, stale) = try Self.getOrCompute(cache) { computes += 1; return Self.document }
        #expect(value == Self.document && !stale && computes == 1)
        // The read, the lock, the read after the grant (a holder may have just stored), the write, the release.
        #expect(store.calls == ["getWithTTL", "acquireLock", "getWithTTL", "set", "releaseLock"])
        #expect(store.lockHolder(Self.lock) == nil)
    }

    @Test func tokensAreUUID4Hex() throws {
        let a = try #require(FillLock.newToken()), b = try #require(FillLock.newToken())
        #expect(a.count == 32 && a != b)
        #expect(a.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) })
        #expect(a[12] == UInt8(ascii: "4"))  // the version digit
        #expect([UInt8(ascii: "8"), UInt8(ascii: "9"), UInt8(ascii: "a"), UInt8(ascii: "b")].contains(a[16]))
        #expect(FillLock.lockKey(Self.full) == Self.lock)
    }

    @Test func aWaiterReadsTheHolderValueWithoutComputing() throws {
        let store = FakeL2Store()
        let stored = try Self.entry(Self.other)
        store.state.withLock {
            $0.locks[Self.lock] = Self.foreignToken
            // The other process stores its value at our second attempt; its lock is still held.
            $0.onLockAttempt = { state in
                if CoherenceTests.lockAttempts(state) == 2 {
                    state.values[CoherenceTests.full] = (stored.withUnsafeBytes { FakeL2Store.Bytes($0) }, 60_000)
                }
            }
        }
        let cache = try Self.makeCache(store, [("fill_lock_poll_ms", "1"), ("fill_lock_wait_ms", "60000")])
        var computes = 0
        let (value, _) = try Self.getOrCompute(cache) { computes += 1; return Self.document }
        #expect(value == Self.other && computes == 0)
        let stats = cache.statsSnapshot()
        #expect(stats.fillLockWaits == 1 && stats.fillLockReads == 1 && stats.computes == 0)
        #expect(store.lockHolder(Self.lock) == Self.foreignToken)  // never released by a waiter
        #expect(!store.calls.contains("releaseLock"))
    }

    @Test func aWaitThatRunsOutComputesWithoutTheLock() throws {
        let store = FakeL2Store()
        store.state.withLock { $0.locks[Self.lock] = Self.foreignToken }
        let cache = try Self.makeCache(store, [("fill_lock_poll_ms", "2"), ("fill_lock_wait_ms", "30")])
        var computes = 0
        let (value, _) = try Self.getOrCompute(cache) { computes += 1; return Self.document }
        #expect(value == Self.document && computes == 1)
        let stats = cache.statsSnapshot()
        #expect(stats.fillLockWaits == 1 && stats.fillLockTimeouts == 1)
        #expect(store.state.withLock { Self.lockAttempts($0) } > 1)
        #expect(store.lockHolder(Self.lock) == Self.foreignToken)
        #expect(store.stored(Self.full) != nil)
    }

    @Test func aLockThatExpiredIsNotReleasedByItsFormerHolder() throws {
        let store = FakeL2Store()
        let cache = try Self.makeCache(store)
        let (value, _) = try Self.getOrCompute(cache) { () throws(CachekitError) -> [UInt8] in
            // The compute outlives the lock's PX: it expires and another process takes it.
            store.state.withLock { $0.locks[Self.lock] = Self.foreignToken }
            return Self.document
        }
        #expect(value == Self.document)
        #expect(store.lockHolder(Self.lock) == Self.foreignToken)
        #expect(cache.statsSnapshot().fillLockExpired == 1)
    }

    @Test func aFailingLockFailsOpenAndTheOptionTurnsItOff() throws {
        let failing = FakeL2Store()
        failing.failing(with: .backendUnavailable)
        let (value, _) = try Self.getOrCompute(try Self.makeCache(failing)) { Self.document }
        #expect(value == Self.document)

        let store = FakeL2Store()
        _ = try Self.getOrCompute(try Self.makeCache(store, [("fill_lock", "0")])) { Self.document }
        #expect(!store.calls.contains("acquireLock"))
    }

    // MARK: Sliding TTL

    @Test func aHitBelowTheThresholdSlidesItsTTL() throws {
        let store = FakeL2Store()
        let cache = try Self.makeCache(store, [("refresh_ttl_on_get", "1"), ("default_ttl", "60")])
        store.put(Self.full, try Self.entry(Self.document), ttlMilliseconds: 50_000)
        #expect(try Array("k".utf8).withUnsafeBytes { try cache.get($0)?.array } == Self.document)
        #expect(store.state.withLock { $0.expired.isEmpty })  // 50 of 60 s left: above half

        let reader = try Self.makeCache(store, [("refresh_ttl_on_get", "1"), ("default_ttl", "60")])
        store.remaining(Self.full, milliseconds: 20_000)
        #expect(try Array("k".utf8).withUnsafeBytes { try reader.get($0)?.array } == Self.document)
        let expired = store.state.withLock { $0.expired }
        #expect(expired.count == 1 && expired.first?.0 == Self.full && expired.first?.1 == 60)
        #expect(reader.statsSnapshot().ttlRefreshes == 1)
    }

    // MARK: Stale-if-error

    @Test func aFailedComputeServesTheExpiredValueWithinTheGrace() throws {
        let store = FakeL2Store()
        let options = [("stale_if_error", "60"), ("l1_max_bytes", "0")]
        let cache = try Self.makeCache(store, options)
        _ = try Self.getOrCompute(cache) { Self.document }
        store.state.withLock { $0.values[Self.full] = nil }  // expired in Redis
        let failing: () throws(CachekitError) -> [UInt8] = { () throws(CachekitError) -> [UInt8] in
            throw CachekitError(.computeFailed, "down")
        }
        let (value, stale) = try Self.getOrCompute(cache, failing)
        #expect(value == Self.document && stale)
        #expect(cache.statsSnapshot().staleServed == 1)

        // A delete is on purpose: nothing stale comes back after it.
        try Array("k".utf8).withUnsafeBytes { try cache.delete($0) }
        #expect(throws: CachekitError.self) { _ = try Self.getOrCompute(cache, failing) }
        // Off by default.
        let plainStore = FakeL2Store()
        let plain = try Self.makeCache(plainStore, [("l1_max_bytes", "0")])
        _ = try Self.getOrCompute(plain) { Self.document }
        plainStore.state.withLock { $0.values[Self.full] = nil }
        #expect(throws: CachekitError.self) { _ = try Self.getOrCompute(plain, failing) }
    }

    @Test func staleCopiesEndWithTheirGrace() {
        let copies = StaleCopies(graceSeconds: 10, maxEntries: 2, maxBytes: 1 << 20)
        Self.document.withUnsafeBytes { copies.keep(Self.full, $0, lifetime: 5_000_000_000, now: 0) }
        #expect(copies.copy(Self.full, now: 14_999_999_999) == Self.document)
        #expect(copies.copy(Self.full, now: 15_000_000_000) == nil)
        // Bounded: a third copy does not fit beside two live ones.
        for key in ["a", "b", "c"] {
            Self.document.withUnsafeBytes { copies.keep(Array(key.utf8), $0, lifetime: 5_000_000_000, now: 0) }
        }
        #expect(copies.copy(Array("c".utf8), now: 1) == nil && copies.copy(Array("b".utf8), now: 1) != nil)
        // A lifetime near Int64.max saturates rather than wrapping into the past.
        Self.document.withUnsafeBytes { copies.keep(Array("b".utf8), $0, lifetime: Int64.max, now: 10) }
        #expect(copies.copy(Array("b".utf8), now: Int64.max - 1) == Self.document)
    }

    // MARK: Refresh-ahead

    /// Waits (bounded) until `condition` holds; the test then checks what it must.
    static func eventually(_ condition: () -> Bool) {
        for _ in 0..<1000 where !condition() { usleep(10_000) }
    }

    @Test func aHitPastTheThresholdReturnsAtOnceAndRefreshesInTheBackground() throws {
        let store = FakeL2Store()
        let cache = try Self.makeCache(store, [("refresh_ahead", "0.5"), ("l1_max_bytes", "0")])
        cache.setRefresher { _ in Self.other }
        _ = try Self.getOrCompute(cache) { Self.document }
        store.remaining(Self.full, milliseconds: 10_000)  // 10 of 60 s left: past half
        var computes = 0
        let (value, _) = try Self.getOrCompute(cache) { computes += 1; return Self.document }
        #expect(value == Self.document && computes == 0)  // the old value, at once
        Self.eventually { cache.statsSnapshot().refreshesAhead == 1 }
        #expect(cache.statsSnapshot().refreshesAhead == 1)
        #expect(try Self.getOrCompute(cache) { Self.document }.value == Self.other)
        #expect(store.lockHolder(Self.lock) == nil)
        #expect(store.calls.filter { $0 == "releaseLock" }.count == 2)
    }

    @Test func aFailingRefreshKeepsTheOldValueAndALockHeldElsewhereSkipsIt() throws {
        let store = FakeL2Store()
        let cache = try Self.makeCache(store, [("refresh_ahead", "0.5"), ("l1_max_bytes", "0")])
        cache.setRefresher { _ throws(CachekitError) in throw CachekitError(.computeFailed, "down") }
        _ = try Self.getOrCompute(cache) { Self.document }
        store.remaining(Self.full, milliseconds: 10_000)
        _ = try Self.getOrCompute(cache) { Self.document }
        Self.eventually { cache.statsSnapshot().refreshAheadFailures == 1 }
        #expect(cache.statsSnapshot().refreshAheadFailures == 1)
        #expect(try Self.getOrCompute(cache) { Self.other }.value == Self.document)

        store.state.withLock { $0.locks[Self.lock] = Self.foreignToken }
        cache.setRefresher { _ in Self.other }
        store.remaining(Self.full, milliseconds: 10_000)
        _ = try Self.getOrCompute(cache) { Self.document }
        cache.stopBackgroundWork()  // joins: any refresh queued has run
        #expect(cache.statsSnapshot().refreshesAhead == 0)
        #expect(try Self.getOrCompute(cache) { Self.other }.value == Self.document)
    }

    @Test func theRefreshClockSaturatesInsteadOfTrapping() {
        for ratio in [0.000001, 0.5, 1.0] {
            let clock = RefreshAhead(ratio: ratio)
            clock.note(Self.full, remaining: Int64.max, ttl: Int64.max, now: Int64.max - 1)
            #expect(!clock.takeIfDue(Self.full, now: 0))
            clock.note(Self.full, remaining: 1, ttl: Int64.max, now: 0)  // 1 ns left: past any threshold
            #expect(clock.takeIfDue(Self.full, now: 1))
        }
        #expect(Cache.nanoseconds(milliseconds: Int64.max) == Int64.max)
    }

    // MARK: Fail-closed

    static let masterA = String(repeating: "a1", count: 32), masterB = String(repeating: "b2", count: 32)

    @Test func tamperedEntriesAreErrorsWhenFailingClosed() throws {
        let secure = [("mode", "secure"), ("master_key", Self.masterA)]
        var tampered = try Self.entry(Self.document, secure)
        tampered[tampered.count - 1] ^= 1
        let store = FakeL2Store()
        store.put(Self.full, tampered)
        let closed = try Self.makeCache(store, secure + [("encryption_fail_closed", "1")])
        let error = #expect(throws: CachekitError.self) { try Array("k".utf8).withUnsafeBytes { _ = try closed.get($0) } }
        #expect(error?.status == .authenticationFailed)
        let computed = #expect(throws: CachekitError.self) { _ = try Self.getOrCompute(closed) { Self.document } }
        #expect(computed?.status == .authenticationFailed)
        #expect(store.stored(Self.full) == tampered)  // kept as evidence
        #expect(closed.statsSnapshot().decryptTamperedL2 == 2 && closed.statsSnapshot().computes == 0)

        let open = try Self.makeCache(store, secure)
        #expect(try Array("k".utf8).withUnsafeBytes { try open.get($0)?.array } == nil)
        #expect(open.statsSnapshot().decryptTamperedL2 == 1)
        #expect(store.stored(Self.full) == nil)  // fail-open deletes it, as before
    }

    @Test func anotherKeysEntryIsCountedAndUnderFailClosedRefused() throws {
        let store = FakeL2Store()
        store.put(Self.full, try Self.entry(Self.document, [("mode", "secure"), ("master_key", Self.masterB)]))
        let secure = [("mode", "secure"), ("master_key", Self.masterA)]
        let open = try Self.makeCache(store, secure)
        #expect(try Array("k".utf8).withUnsafeBytes { try open.get($0)?.array } == nil)
        #expect(open.statsSnapshot().decryptWrongKeyL2 == 1)
        let closed = try Self.makeCache(store, secure + [("encryption_fail_closed", "true")])
        let error = #expect(throws: CachekitError.self) { try Array("k".utf8).withUnsafeBytes { _ = try closed.get($0) } }
        #expect(error?.status == .keyFingerprintMismatch)
        #expect(closed.statsSnapshot().decryptUnknownFingerprintL2 == 1)
        #expect(store.stored(Self.full) != nil)
    }

    @Test func theEnvironmentNameIsCachekitPys() throws {
        let config = CacheConfig()
        try config.loadEnvironment { $0 == "CACHEKIT_ENCRYPTION_FAIL_CLOSED" ? "true" : nil }
        #expect(config.coherence.encryptionFailClosed)
        #expect(throws: CachekitError.self) { try config.set("ttl_refresh_threshold", "1.5") }
        #expect(throws: CachekitError.self) { try config.set("fill_lock_timeout_ms", "0") }
    }
}
