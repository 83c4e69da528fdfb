/// Counters of a cache's server-assisted L1 invalidation (l1_tracking).
public struct TrackingCounters: Sendable, Equatable {
    /// Redis confirms that it tracks this cache's key prefix for the process's subscriber.
    public var tracking = false
    /// Keys under this cache's prefix that Redis reported as written or deleted.
    public var invalidations = 0
    /// L1 copies those reports removed.
    public var dropped = 0
    /// Reports of this cache's own writes, which leave the value just written in L1.
    public var ownWritesKept = 0
    /// Fills from Redis or own writes kept out of L1 because a report for the key came while
    /// they were in flight (the value read may already be old).
    public var fillsSkipped = 0
    /// Times all of L1 was dropped because tracking (re)started: copies kept while it was not
    /// confirmed may have missed a report (the first start, reconnects, Redis restarts, fork).
    public var gapFlushes = 0
    /// Times all of L1 was dropped because Redis reported FLUSHDB or FLUSHALL.
    public var serverFlushes = 0

    public init() {}
}

/// Keeps a cache's L1 coherent with Redis's key-change reports (CLIENT TRACKING in BCAST mode):
/// a report drops the L1 copy, except the one report of this cache's own write. Every L1 fill
/// from Redis and every own write carries a `Token` taken before its Redis command; a report or
/// flush for the key in between makes the fill a no-op, so a value read before a change never
/// lands in L1 after the change's report was applied. Reports, fills and flushes are ordered
/// by one lock; the L1 hit path never takes it. Thread-safe.
public final class L1Coherence: Sendable {
    public struct Token: Sendable {
        fileprivate let epoch: UInt64
        fileprivate let slot: Int
        fileprivate let stamp: UInt32
    }

    private struct State {
        /// Bumped by every flush: tokens taken before it are void.
        var epoch: UInt64 = 0
        /// Per hashed key, bumped by every report or own write landing in L1: a collision only
        /// voids a fill that was not needed (a miss later), never keeps a stale one.
        var stamps = [UInt32](repeating: 0, count: L1Coherence.slotCount)
        /// Keys this cache is writing whose report has not come yet, with when the write began.
        var ownWrites: [[UInt8]: Int64] = [:]
        var counters = TrackingCounters()
    }

    static let slotCount = 4096
    /// A report later than this after its write began is taken as another writer's (the copy is
    /// dropped: safe); it bounds how long a write whose report never came can hide another's.
    static let ownWriteWindowNanoseconds: Int64 = 10_000_000_000
    /// Own writes remembered at once; past it a write's report drops its copy (safe).
    static let maxOwnWrites = 65_536

    public let prefix: [UInt8]
    private let l1: L1Cache
    private let state = Locked(State())

    public init(l1: L1Cache, prefix: [UInt8]) {
        self.l1 = l1
        self.prefix = prefix
    }

    private static func slot(_ key: [UInt8]) -> Int {
        Int(truncatingIfNeeded: key.withUnsafeBytes { XXH3.hash64($0) }) & (slotCount &- 1)
    }

    private static func token(_ state: borrowing State, _ slot: Int) -> Token {
        Token(epoch: state.epoch, slot: slot, stamp: state.stamps[slot])
    }

    // MARK: The cache's side

    /// Before a read of Redis whose value may fill L1.
    public func readToken(_ key: [UInt8]) -> Token {
        let slot = Self.slot(key)
        return state.withLock { Self.token($0, slot) }
    }

    /// Before a write to Redis: its report is expected and will not drop the value written.
    /// Recorded only while tracking is confirmed (no report comes otherwise; the start of
    /// tracking voids the token anyway), and past the cap only after expired records are let go.
    public func beginWrite(_ key: [UInt8]) -> Token {
        let slot = Self.slot(key)
        let now = MonotonicClock.nowNanoseconds()
        return state.withLock { state in
            if state.counters.tracking {
                if state.ownWrites.count >= Self.maxOwnWrites {
                    state.ownWrites = state.ownWrites.filter { now &- $0.value <= Self.ownWriteWindowNanoseconds }
                }
                if state.ownWrites.count < Self.maxOwnWrites || state.ownWrites[key] != nil { state.ownWrites[key] = now }
            }
            return Self.token(state, slot)
        }
    }

    /// Stores a value read from Redis with `fill`, unless a report or flush came since `token`.
    public func fill(_ token: Token, _ fill: () -> Void) {
        state.withLock { state in
            guard state.epoch == token.epoch, state.stamps[token.slot] == token.stamp else {
                state.counters.fillsSkipped &+= 1
                return
            }
            fill()
        }
    }

    /// After a write to Redis (`reached`: Redis answered it): stores the value written with
    /// `fill` unless a report or flush came since `token`, in which case the key leaves L1, as
    /// what it holds may predate this write. A failed write's report may never come, so it is
    /// no longer expected (if it does come, it drops the copy: safe).
    public func finishWrite(_ token: Token, key: [UInt8], reached: Bool, _ fill: () -> Void) {
        state.withLock { state in
            if !reached { state.ownWrites[key] = nil }
            if state.epoch == token.epoch, state.stamps[token.slot] == token.stamp {
                fill()
            } else {
                state.counters.fillsSkipped &+= 1
                key.withUnsafeBytes { _ = l1.remove($0) }
            }
            state.stamps[token.slot] &+= 1
        }
    }

    // MARK: The subscriber's side

    /// Redis reports `key` (the whole Redis key, starting with `prefix`) as changed.
    public func invalidate(_ key: [UInt8]) {
        let slot = Self.slot(key)
        let now = MonotonicClock.nowNanoseconds()
        state.withLock { state in
            state.counters.invalidations &+= 1
            if let began = state.ownWrites.removeValue(forKey: key), now &- began <= Self.ownWriteWindowNanoseconds {
                state.counters.ownWritesKept &+= 1
                return
            }
            state.stamps[slot] &+= 1
            if key.withUnsafeBytes({ l1.remove($0) }) { state.counters.dropped &+= 1 }
        }
    }

    /// Redis reports FLUSHDB or FLUSHALL.
    public func serverFlushed() {
        flush { $0.serverFlushes &+= 1 }
    }

    /// Redis confirmed tracking (first time, or again after a gap): copies kept before may have
    /// missed reports, and writes begun before will not be reported.
    public func trackingStarted() {
        flush { counters in
            counters.gapFlushes &+= 1
            counters.tracking = true
        }
    }

    /// The subscriber's connection is gone: reports may be missed until `trackingStarted`.
    public func trackingLost() {
        state.withLock { state in
            state.counters.tracking = false
            state.ownWrites.removeAll()
        }
    }

    private func flush(_ count: (inout TrackingCounters) -> Void) {
        state.withLock { state in
            state.epoch &+= 1
            state.ownWrites.removeAll()
            count(&state.counters)
            l1.removeAll()
        }
    }

    public var counters: TrackingCounters { state.withLock { $0.counters } }
}
