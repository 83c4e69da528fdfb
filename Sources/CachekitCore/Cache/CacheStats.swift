import Synchronization

/// Counters of one cache, updated with relaxed atomics (they are statistics, not
/// synchronization). Exported to C through `cachekit_cache_stats`.
public final class CacheStats: Sendable {
    // Hits are L1's own count (kept under its shard locks, no shared cache line) plus l2Hits.
    let misses = Atomic<Int>(0)
    let l1DecodeFailures = Atomic<Int>(0)
    let l2Hits = Atomic<Int>(0)
    let sets = Atomic<Int>(0)
    let deletes = Atomic<Int>(0)
    let errors = Atomic<Int>(0)
    let l2Errors = Atomic<Int>(0)
    let l2Skipped = Atomic<Int>(0)
    let computes = Atomic<Int>(0)
    let coalesced = Atomic<Int>(0)
    /// get_or_compute waiters that stopped waiting for another caller's compute and ran their own.
    let singleFlightTimeouts = Atomic<Int>(0)
    /// Entries left in Redis because this reader cannot read them (another key or mode) though
    /// they may be valid for their writer; also counted in decodeErrors.
    let foreignEntries = Atomic<Int>(0)
    let decodeErrors = Atomic<Int>(0)
    let l2Operations = Atomic<Int>(0)
    let l2LatencyTotalNanoseconds = Atomic<Int>(0)
    let l2LatencyMaxNanoseconds = Atomic<Int>(0)
    // Coherence (Coherence/): the fill lock, sliding TTL, stale-if-error, decryption failures.
    /// Fills that found the lock held by another caller and waited.
    let fillLockWaits = Atomic<Int>(0)
    /// Waits that ended with the holder's value read from Redis.
    let fillLockReads = Atomic<Int>(0)
    /// Waits that ran out (the caller then computed without the lock).
    let fillLockTimeouts = Atomic<Int>(0)
    /// Releases that found the lock no longer this caller's (it expired during the compute).
    let fillLockExpired = Atomic<Int>(0)
    let ttlRefreshes = Atomic<Int>(0)
    let staleServed = Atomic<Int>(0)
    let refreshesAhead = Atomic<Int>(0)
    let refreshAheadFailures = Atomic<Int>(0)
    let decryptWrongKeyL1 = Atomic<Int>(0), decryptWrongKeyL2 = Atomic<Int>(0)
    let decryptTamperedL1 = Atomic<Int>(0), decryptTamperedL2 = Atomic<Int>(0)
    let decryptUnknownFingerprintL1 = Atomic<Int>(0), decryptUnknownFingerprintL2 = Atomic<Int>(0)

    /// The per-operation histograms and failure counters (Observability/OperationMetrics.swift).
    public let metrics: OperationMetrics

    public init(metrics: OperationMetrics = OperationMetrics()) { self.metrics = metrics }

    @inline(__always)
    static func bump(_ counter: borrowing Atomic<Int>, by amount: Int = 1) {
        counter.add(amount, ordering: .relaxed)
    }

    // What a second tier reports (public: the Redis tier is moving to its own target).

    /// A call the tier skipped without trying (its breaker is open).
    public func recordL2Skip() { l2Skipped.add(1, ordering: .relaxed) }

    /// A call the tier tried and that failed.
    public func recordL2Error() { l2Errors.add(1, ordering: .relaxed) }

    /// A call that succeeded, and how long it took.
    public func recordL2Latency(_ nanoseconds: Int) {
        metrics.l2RoundTrip.observe(nanoseconds)
        l2Operations.add(1, ordering: .relaxed)
        l2LatencyTotalNanoseconds.add(nanoseconds, ordering: .relaxed)
        var current = l2LatencyMaxNanoseconds.load(ordering: .relaxed)
        while nanoseconds > current {
            let (exchanged, original) = l2LatencyMaxNanoseconds.compareExchange(
                expected: current, desired: nanoseconds, ordering: .relaxed)
            if exchanged { break }
            current = original
        }
    }

    /// A consistent-enough copy of the counters (each read on its own).
    public struct Snapshot: Sendable, Equatable {
        public var hits = 0, misses = 0, l1Hits = 0, l2Hits = 0, sets = 0, deletes = 0
        public var evictions = 0, errors = 0, l2Errors = 0, l2Skipped = 0, computes = 0, coalesced = 0
        public var decodeErrors = 0, l1Entries = 0, l1Bytes = 0, l2Operations = 0
        public var l2LatencyTotalNanoseconds = 0, l2LatencyMaxNanoseconds = 0
        // Not in the shipped cachekit_cache_stats struct (frozen): for a _v2 struct.
        public var singleFlightTimeouts = 0, foreignEntries = 0
        public var fillLockWaits = 0, fillLockReads = 0, fillLockTimeouts = 0, fillLockExpired = 0
        public var ttlRefreshes = 0, staleServed = 0, refreshesAhead = 0, refreshAheadFailures = 0
        public var decryptWrongKeyL1 = 0, decryptWrongKeyL2 = 0, decryptTamperedL1 = 0, decryptTamperedL2 = 0
        public var decryptUnknownFingerprintL1 = 0, decryptUnknownFingerprintL2 = 0
    }

    func snapshot(l1: L1Cache) -> Snapshot {
        var s = Snapshot()
        let usage = l1.usage
        s.misses = misses.load(ordering: .relaxed)
        s.l1Hits = max(usage.hits - l1DecodeFailures.load(ordering: .relaxed), 0)
        s.l2Hits = l2Hits.load(ordering: .relaxed)
        s.hits = s.l1Hits + s.l2Hits
        s.sets = sets.load(ordering: .relaxed)
        s.deletes = deletes.load(ordering: .relaxed)
        s.evictions = l1.evictions
        s.errors = errors.load(ordering: .relaxed)
        s.l2Errors = l2Errors.load(ordering: .relaxed)
        s.l2Skipped = l2Skipped.load(ordering: .relaxed)
        s.computes = computes.load(ordering: .relaxed)
        s.coalesced = coalesced.load(ordering: .relaxed)
        s.decodeErrors = decodeErrors.load(ordering: .relaxed)
        s.l1Entries = usage.entries
        s.l1Bytes = usage.bytes
        s.l2Operations = l2Operations.load(ordering: .relaxed)
        s.l2LatencyTotalNanoseconds = l2LatencyTotalNanoseconds.load(ordering: .relaxed)
        s.l2LatencyMaxNanoseconds = l2LatencyMaxNanoseconds.load(ordering: .relaxed)
        s.singleFlightTimeouts = singleFlightTimeouts.load(ordering: .relaxed)
        s.foreignEntries = foreignEntries.load(ordering: .relaxed)
        s.fillLockWaits = fillLockWaits.load(ordering: .relaxed)
        s.fillLockReads = fillLockReads.load(ordering: .relaxed)
        s.fillLockTimeouts = fillLockTimeouts.load(ordering: .relaxed)
        s.fillLockExpired = fillLockExpired.load(ordering: .relaxed)
        s.ttlRefreshes = ttlRefreshes.load(ordering: .relaxed)
        s.staleServed = staleServed.load(ordering: .relaxed)
        s.refreshesAhead = refreshesAhead.load(ordering: .relaxed)
        s.refreshAheadFailures = refreshAheadFailures.load(ordering: .relaxed)
        s.decryptWrongKeyL1 = decryptWrongKeyL1.load(ordering: .relaxed)
        s.decryptWrongKeyL2 = decryptWrongKeyL2.load(ordering: .relaxed)
        s.decryptTamperedL1 = decryptTamperedL1.load(ordering: .relaxed)
        s.decryptTamperedL2 = decryptTamperedL2.load(ordering: .relaxed)
        s.decryptUnknownFingerprintL1 = decryptUnknownFingerprintL1.load(ordering: .relaxed)
        s.decryptUnknownFingerprintL2 = decryptUnknownFingerprintL2.load(ordering: .relaxed)
        return s
    }
}
