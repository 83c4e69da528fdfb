import Glibc
import Synchronization

/// The in-process tier: opaque byte values (exactly the bytes stored in Redis) under byte keys,
/// bounded by bytes and by entry count, each entry with its own expiry.
///
/// Eviction is W-TinyLFU (Einziger, Friedman, Manes 2017; Caffeine's design): new entries enter a
/// small LRU window (1% of the bytes); entries leaving the window compete with the main region's
/// LRU victim, and only the one a frequency sketch estimates as more popular stays. The main
/// region is a segmented LRU (probation 20%, protected 80%). Scans and one-hit wonders therefore
/// pass through the window without flushing the popular working set, which plain LRU cannot do.
///
/// The cache is split into `shardCount` shards by key hash, each behind its own lock, so
/// threads touching different keys rarely meet. A hit takes no lock and writes no line another
/// core reads (`L1ReadGate`), so threads reading the same shard scale. A value larger than 1/8
/// of the byte budget is not kept (it would evict a large part of the working set for one
/// entry). Thread-safe.
public final class L1Cache: @unchecked Sendable {  // shards are only touched under their lock, gates atomically
    public struct Options: Sendable {
        public var maxBytes: Int
        public var maxEntries: Int
        public var shardCount: Int

        public init(maxBytes: Int, maxEntries: Int, shardCount: Int = 8) {
            self.maxBytes = maxBytes
            self.maxEntries = maxEntries
            self.shardCount = shardCount
        }
    }

    /// What a hit returns: a copy of the decoded view when the entry has one, else of the
    /// stored bytes, followed by the entry's opening plan when it has one.
    public struct Hit: ~Copyable, @unchecked Sendable {  // owns its bytes
        public var bytes: OwnedBytes
        public let isDecoded: Bool
        /// Bytes of opening plan at the end of `bytes` (0: none).
        public let planCount: Int

        public consuming func takeBytes() -> OwnedBytes { bytes }
    }

    /// Bytes charged per entry on top of its key and value: slot, index and allocator overhead.
    public static let entryOverhead = 64

    public let maxBytes: Int
    public let maxEntries: Int
    /// Stored values larger than this are not kept.
    public let maxValueBytes: Int
    public let isEnabled: Bool
    // A plain allocation of locks rather than an array of boxes (no reference counting per
    // call); each lock keeps its shard on cache lines of its own (see `Locked`).
    private let shardMemory: UnsafeMutableRawPointer
    private let shardStride: Int
    private let shardCount: Int
    private let shardShift: UInt64
    /// Each shard's gate, read without the lock (handles copied out of the shards at init).
    private let gates: UnsafeMutablePointer<L1ReadGate>
    private let evictionCounter = Atomic<Int>(0)

    public init(_ options: Options) {
        maxBytes = max(options.maxBytes, 0)
        maxEntries = max(options.maxEntries, 0)
        maxValueBytes = maxBytes / 8
        isEnabled = maxBytes > 0 && maxEntries > 0
        // A power of two, and no more shards than entries so that per-shard bounds sum to at most the total.
        var count = 1
        while count * 2 <= min(max(options.shardCount, 1), 64, max(maxEntries, 1)) { count <<= 1 }
        shardCount = count
        shardShift = UInt64(64 - count.trailingZeroBitCount)
        let shardBytes = maxBytes / count
        let shardEntries = maxEntries / count
        shardStride = (MemoryLayout<Locked<L1Shard>>.stride + 127) & ~127
        shardMemory = .allocate(byteCount: shardStride * count, alignment: 128)
        let handles = UnsafeMutablePointer<L1ReadGate>.allocate(capacity: count)
        for i in 0..<count {
            let shard = (shardMemory + i * shardStride).bindMemory(to: Locked<L1Shard>.self, capacity: 1)
            shard.initialize(to: Locked(L1Shard(maxBytes: shardBytes, maxEntries: shardEntries)))
            (handles + i).initialize(to: shard.pointee.withLock { $0.gate })
        }
        gates = handles
    }

    deinit {
        gates.deinitialize(count: shardCount)
        gates.deallocate()
        for i in 0..<shardCount { shardAt(i).deinitialize(count: 1) }
        shardMemory.deallocate()
    }

    @inline(__always)
    private func shardAt(_ i: Int) -> UnsafeMutablePointer<Locked<L1Shard>> {
        (shardMemory + i &* shardStride).assumingMemoryBound(to: Locked<L1Shard>.self)
    }

    @inline(__always)
    public static func hash(_ key: UnsafeRawBufferPointer) -> UInt64 { XXH3.hash64(key) }

    @inline(__always)
    private func shardIndex(_ hash: UInt64) -> Int {
        shardCount == 1 ? 0 : Int(truncatingIfNeeded: hash >> shardShift) & (shardCount &- 1)
    }

    @inline(__always)
    private func shard(_ hash: UInt64) -> UnsafeMutablePointer<Locked<L1Shard>> { shardAt(shardIndex(hash)) }

    /// A copy of the entry under `key` (its decoded view if it has one), or nil when absent or expired.
    public func get(_ key: UnsafeRawBufferPointer, now: Int64 = MonotonicClock.nowNanoseconds()) throws(CachekitError) -> Hit? {
        try lookup(key, now: now, serve: { entry throws(CachekitError) in try entry.hit() }, locked: { $0 })
    }

    /// What `get(_:openingPlan:)` found.
    public enum PlanRead: ~Copyable {
        /// What `open` made of the slot's own stored bytes and plan.
        case opened(OwnedBytes, serial: UInt64)
        /// A copy, as `get` returns: the entry has no plan, a writer was in, or `open` declined
        /// or failed (the copy then fails the same way outside, where failures are handled).
        /// `serial`: the entry's, for `remove(_:ifSerial:)` (nil: read under the lock).
        case copied(Hit, serial: UInt64?)
    }

    /// `get` for an entry with an opening plan: `open` runs on the stored bytes and plan in the
    /// slot itself, inside the shard's read gate, so a hit copies nothing before it decrypts. The
    /// gate keeps writers waiting meanwhile, so `open` must be short and bounded: no lock, no
    /// callback, no wait (nil: it would need one; the entry is copied out instead).
    public func get(_ key: UnsafeRawBufferPointer, now: Int64 = MonotonicClock.nowNanoseconds(),
                    openingPlan open: (_ stored: UnsafeRawBufferPointer, _ plan: UnsafeRawBufferPointer) throws(CachekitError) -> OwnedBytes?)
        throws(CachekitError) -> PlanRead? {
        try lookup(key, now: now, serve: { entry throws(CachekitError) -> PlanRead in
            if let plan = entry.plan {
                do throws(CachekitError) {
                    if let opened = try open(entry.stored, plan) { return .opened(opened, serial: entry.serial) }
                } catch {}  // the copy below fails again outside the gate, where the failure is handled
            }
            return .copied(try entry.hit(), serial: entry.serial)
        }, locked: { hit in .copied(hit, serial: nil) })
    }

    /// A hit read without the lock when no writer is in (`serve` runs inside the gate on the
    /// slot's entry), else under the lock (a copy, turned into the result by `locked`).
    @inline(__always)
    private func lookup<Result: ~Copyable>(_ key: UnsafeRawBufferPointer, now: Int64,
                                           serve: (borrowing L1Entry) throws(CachekitError) -> Result,
                                           locked: (consuming Hit) -> Result) throws(CachekitError) -> Result? {
        let hash = Self.hash(key)
        let shardNumber = shardIndex(hash)
        let gate = gates[shardNumber]
        let stripe = StripedCells.currentStripe()
        if gate.enter(stripe) {
            let slot = gate.table.pointee.find(key, hash: hash).slot
            if slot < 0 {
                gate.leave(stripe, hit: false)
                if gate.record(hash, stripe: stripe) { drainReads(shardNumber, stripe: stripe) }
                return nil
            }
            let entry = gate.table.pointee.entries[slot]
            if entry.expiresAt > now {
                let result: Result
                do throws(CachekitError) { result = try serve(entry) } catch { gate.leave(stripe, hit: false); throw error }
                gate.leave(stripe, hit: true)
                if gate.record(hash, stripe: stripe) { drainReads(shardNumber, stripe: stripe) }
                return result
            }
            gate.leave(stripe, hit: false)  // expired: the locked lookup drops it and counts the expiration
        }
        let hit = try shardAt(shardNumber).pointee.withLock { shard throws(CachekitError) -> Hit? in
            try shard.get(key, hash: hash, now: now)
        }
        switch consume hit {
        case .some(let copy): return locked(copy)
        case .none: return nil
        }
    }

    /// A reader's stripe has samples to drain: applies them unless another thread holds the
    /// shard (a later read or write drains them then, or the ring drops the oldest).
    private func drainReads(_ shardNumber: Int, stripe: Int) {
        _ = shardAt(shardNumber).pointee.withLockIfAvailable { $0.drainReads(stripe: stripe) }
    }

    /// Whether an unexpired value is stored under `key` (not counted as an access).
    public func contains(_ key: UnsafeRawBufferPointer, now: Int64 = MonotonicClock.nowNanoseconds()) -> Bool {
        let hash = Self.hash(key)
        return shard(hash).pointee.withLock { $0.contains(key, hash: hash, now: now) }
    }

    /// Nanoseconds the unexpired entry under `key` has left (Int64.max: no expiry), or nil when
    /// absent. Not counted as an access.
    public func remainingNanoseconds(_ key: UnsafeRawBufferPointer, now: Int64 = MonotonicClock.nowNanoseconds()) -> Int64? {
        let hash = Self.hash(key)
        guard let expiresAt = shard(hash).pointee.withLock({ $0.expiry(key, hash: hash, now: now) }) else { return nil }
        return expiresAt == Int64.max ? Int64.max : expiresAt &- now
    }

    /// Stores a copy of `stored` (and of `decoded`, a view served on hits instead, when given;
    /// or of `plan`, public bytes served after the stored bytes) under `key`, expiring `ttlNanoseconds` after `now` (0: never). Returns false when the
    /// entry is not kept (too large, or the cache is disabled); any older entry under the key is
    /// removed then, so a stale copy never outlives a write. `countsAsAccess`: false when the
    /// write fills a miss that `get` has just recorded, so one request is counted once.
    @discardableResult
    public func set(_ key: UnsafeRawBufferPointer, _ stored: UnsafeRawBufferPointer, decoded: UnsafeRawBufferPointer? = nil,
                    plan: UnsafeRawBufferPointer? = nil, ttlNanoseconds: Int64, countsAsAccess: Bool = true,
                    now: Int64 = MonotonicClock.nowNanoseconds()) -> Bool {
        let hash = Self.hash(key)
        let box = shard(hash)
        let extra = decoded ?? plan
        let decodedCount = extra?.count ?? 0
        guard isEnabled, stored.count <= maxValueBytes, key.count <= Int(Int32.max),
              stored.count <= Int(Int32.max), decodedCount <= Int(Int32.max) else {
            box.pointee.withLock { _ = $0.remove(key, hash: hash) }
            return false
        }
        let expiry = now.addingReportingOverflow(ttlNanoseconds)
        let expiresAt = ttlNanoseconds <= 0 || expiry.overflow ? Int64.max : expiry.partialValue
        let (kept, evicted) = box.pointee.withLock {
            $0.insert(key, stored, decoded: extra, decodedIsPlan: decoded == nil && plan != nil, hash: hash, expiresAt: expiresAt, countsAsAccess: countsAsAccess)
        }
        if evicted > 0 { evictionCounter.add(evicted, ordering: .relaxed) }
        return kept
    }

    /// Removes `key`; returns whether it was present.
    @discardableResult
    public func remove(_ key: UnsafeRawBufferPointer) -> Bool {
        let hash = Self.hash(key)
        return shard(hash).pointee.withLock { $0.remove(key, hash: hash) }
    }

    /// Removes `key` if it still holds the entry with `serial` (`PlanRead`); returns whether it did.
    @discardableResult
    public func remove(_ key: UnsafeRawBufferPointer, ifSerial serial: UInt64) -> Bool {
        let hash = Self.hash(key)
        return shard(hash).pointee.withLock { $0.remove(key, hash: hash, ifSerial: serial) }
    }

    /// Removes every key that starts with `prefix`; returns how many.
    @discardableResult
    public func removeAll(withPrefix prefix: UnsafeRawBufferPointer) -> Int {
        var removed = 0
        for i in 0..<shardCount { removed += shardAt(i).pointee.withLock { $0.removeAll(withPrefix: prefix) } }
        return removed
    }

    public func removeAll() {
        for i in 0..<shardCount { shardAt(i).pointee.withLock { $0.removeAll() } }
    }

    /// Entries and bytes currently held (expired entries count until they are found or
    /// evicted), and hits served since creation.
    public var usage: (entries: Int, bytes: Int, hits: Int) {
        var entries = 0, bytes = 0, hits = 0
        for i in 0..<shardCount {
            let (e, b, h) = shardAt(i).pointee.withLock { ($0.count, $0.totalBytes, $0.allHits) }
            entries += e
            bytes += b
            hits += h
        }
        return (entries, bytes, hits)
    }

    /// Entries dropped by the eviction policy (not by delete or expiry).
    public var evictions: Int { evictionCounter.load(ordering: .relaxed) }

    /// Entries dropped because a lookup found them expired.
    public var expirations: Int {
        var total = 0
        for i in 0..<shardCount { total &+= shardAt(i).pointee.withLock { $0.expirations } }
        return total
    }
}
