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
/// The cache is split into `shardCount` shards by key hash, each behind its own `Mutex`, so
/// threads touching different keys rarely meet. A value larger than 1/8 of the byte budget is not
/// kept (it would evict a large part of the working set for one entry). Thread-safe.
public final class L1Cache: Sendable {
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

    /// Bytes charged per entry on top of its key and value: slot, index and allocator overhead.
    public static let entryOverhead = 64

    public let maxBytes: Int
    public let maxEntries: Int
    /// Values larger than this are not kept.
    public let maxValueBytes: Int
    private let shards: [ShardBox]
    private let shardShift: UInt64
    private let evictionCounter = Atomic<Int>(0)

    private final class ShardBox: Sendable {
        let state: Mutex<L1Shard>
        init(_ shard: consuming L1Shard) { state = Mutex(shard) }
    }

    public init(_ options: Options) {
        maxBytes = max(options.maxBytes, 0)
        maxEntries = max(options.maxEntries, 0)
        maxValueBytes = maxBytes / 8
        // A power of two, and no more shards than entries so that per-shard bounds sum to at most the total.
        var count = 1
        while count * 2 <= min(max(options.shardCount, 1), 64, max(maxEntries, 1)) { count <<= 1 }
        shardShift = UInt64(64 - count.trailingZeroBitCount)
        let shardBytes = maxBytes / count
        let shardEntries = maxEntries / count
        var boxes: [ShardBox] = []
        for _ in 0..<count {
            boxes.append(ShardBox(L1Shard(maxBytes: shardBytes, maxEntries: shardEntries)))
        }
        shards = boxes
    }

    public var isEnabled: Bool { maxBytes > 0 && maxEntries > 0 }

    @inline(__always)
    public static func hash(_ key: UnsafeRawBufferPointer) -> UInt64 { XXH3.hash64(key) }

    @inline(__always)
    private func shard(_ hash: UInt64) -> ShardBox {
        shards.count == 1 ? shards[0] : shards[Int(truncatingIfNeeded: hash >> shardShift) & (shards.count - 1)]
    }

    /// A copy of the value stored under `key`, or nil when absent or expired.
    public func get(_ key: UnsafeRawBufferPointer, now: Int64 = MonotonicClock.nowNanoseconds()) throws(CacheKitError) -> OwnedBytes? {
        let hash = Self.hash(key)
        return try shard(hash).state.withLock { shard throws(CacheKitError) -> OwnedBytes? in
            try shard.get(key, hash: hash, now: now)
        }
    }

    /// Whether an unexpired value is stored under `key` (not counted as an access).
    public func contains(_ key: UnsafeRawBufferPointer, now: Int64 = MonotonicClock.nowNanoseconds()) -> Bool {
        let hash = Self.hash(key)
        return shard(hash).state.withLock { $0.contains(key, hash: hash, now: now) }
    }

    /// Stores a copy of `value` under `key`, expiring `ttlNanoseconds` after `now` (0: never).
    /// Returns false when the value is not kept (too large, or the cache is disabled); any older
    /// value under the key is removed then, so a stale copy never outlives a write.
    @discardableResult
    public func set(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, ttlNanoseconds: Int64,
                    now: Int64 = MonotonicClock.nowNanoseconds()) -> Bool {
        let hash = Self.hash(key)
        let box = shard(hash)
        guard isEnabled, value.count <= maxValueBytes,
              key.count <= Int(Int32.max), value.count <= Int(Int32.max) else {
            box.state.withLock { _ = $0.remove(key, hash: hash) }
            return false
        }
        let expiry = now.addingReportingOverflow(ttlNanoseconds)
        let expiresAt = ttlNanoseconds <= 0 || expiry.overflow ? Int64.max : expiry.partialValue
        let (stored, evicted) = box.state.withLock { $0.insert(key, value, hash: hash, expiresAt: expiresAt) }
        if evicted > 0 { evictionCounter.add(evicted, ordering: .relaxed) }
        return stored
    }

    /// Removes `key`; returns whether it was present.
    @discardableResult
    public func remove(_ key: UnsafeRawBufferPointer) -> Bool {
        let hash = Self.hash(key)
        return shard(hash).state.withLock { $0.remove(key, hash: hash) }
    }

    /// Removes every key that starts with `prefix`; returns how many.
    @discardableResult
    public func removeAll(withPrefix prefix: UnsafeRawBufferPointer) -> Int {
        var removed = 0
        for box in shards { removed += box.state.withLock { $0.removeAll(withPrefix: prefix) } }
        return removed
    }

    public func removeAll() {
        for box in shards { box.state.withLock { $0.removeAll() } }
    }

    /// Entries and bytes currently held (expired entries count until they are found or evicted).
    public var usage: (entries: Int, bytes: Int) {
        var entries = 0, bytes = 0
        for box in shards {
            let (e, b) = box.state.withLock { ($0.count, $0.totalBytes) }
            entries += e
            bytes += b
        }
        return (entries, bytes)
    }

    /// Entries dropped by the eviction policy (not by delete or expiry).
    public var evictions: Int { evictionCounter.load(ordering: .relaxed) }
}

/// One shard: slots in parallel arrays linked into three LRU lists, an open-addressing index,
/// and a frequency sketch. Each entry's key and value live in one malloc block. No reference
/// counting on the hot path.
struct L1Shard: ~Copyable, @unchecked Sendable {  // only touched under its shard's Mutex
    private enum Region: UInt8 { case free = 0, window, probation, protected }

    private let maxBytes: Int
    private let maxEntries: Int
    private let windowMaxBytes: Int
    private let protectedMaxBytes: Int

    // Slots.
    private var hashes: [UInt64] = []
    private var blocks: [UnsafeMutableRawPointer?] = []
    private var keyCounts: [Int32] = []
    private var valueCounts: [Int32] = []
    private var expiries: [Int64] = []
    private var previous: [Int32] = []
    private var next: [Int32] = []
    private var regions: [Region] = []
    private var freeSlots: [Int32] = []

    // Lists, indexed by Region.rawValue (0 unused).
    private var heads: [Int32] = [-1, -1, -1, -1]
    private var tails: [Int32] = [-1, -1, -1, -1]
    private var regionBytes: [Int] = [0, 0, 0, 0]

    // Open-addressing index (linear probing, backward-shift deletion) of slot numbers; -1 empty.
    private var index: [Int32]
    private var indexMask: Int

    private var sketch: FrequencySketch
    private(set) var count = 0
    private(set) var totalBytes = 0

    init(maxBytes: Int, maxEntries: Int) {
        self.maxBytes = maxBytes
        self.maxEntries = maxEntries
        windowMaxBytes = max(maxBytes / 100, 1)
        protectedMaxBytes = (maxBytes - maxBytes / 100) / 5 * 4
        index = [Int32](repeating: -1, count: 16)
        indexMask = 15
        let expected = min(maxEntries, maxBytes / 256)
        sketch = FrequencySketch(expectedEntries: expected)
    }

    deinit {
        for block in blocks { free(block) }
    }

    @inline(__always)
    private static func cost(keyCount: Int, valueCount: Int) -> Int {
        keyCount &+ valueCount &+ L1Cache.entryOverhead
    }

    @inline(__always)
    private func cost(_ slot: Int) -> Int {
        Self.cost(keyCount: Int(keyCounts[slot]), valueCount: Int(valueCounts[slot]))
    }

    // MARK: Index

    @inline(__always)
    private func startsWith(_ block: UnsafeMutableRawPointer?, _ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count > 0 else { return true }
        guard let block, let base = bytes.baseAddress else { return false }
        return memcmp(block, base, bytes.count) == 0
    }

    /// (index position, slot) of `key`, or the empty position where it would go and -1.
    @inline(__always)
    private func find(_ key: UnsafeRawBufferPointer, hash: UInt64) -> (position: Int, slot: Int) {
        var position = Int(truncatingIfNeeded: hash) & indexMask
        while true {
            let slot = Int(index[position])
            if slot < 0 { return (position, -1) }
            if hashes[slot] == hash, Int(keyCounts[slot]) == key.count,
               startsWith(blocks[slot], key) {
                return (position, slot)
            }
            position = (position &+ 1) & indexMask
        }
    }

    private mutating func unindex(at position: Int) {
        var hole = position
        var probe = position
        while true {
            probe = (probe &+ 1) & indexMask
            let slot = Int(index[probe])
            if slot < 0 { break }
            let ideal = Int(truncatingIfNeeded: hashes[slot]) & indexMask
            // The entry at `probe` may move into the hole unless its ideal position lies
            // cyclically in (hole, probe].
            let staysPut = hole <= probe ? (ideal > hole && ideal <= probe) : (ideal > hole || ideal <= probe)
            if !staysPut {
                index[hole] = Int32(truncatingIfNeeded: slot)
                hole = probe
            }
        }
        index[hole] = -1
    }

    private mutating func growIndexIfNeeded() {
        guard (count &+ 1) &* 2 > index.count else { return }
        let capacity = index.count * 2
        index = [Int32](repeating: -1, count: capacity)
        indexMask = capacity - 1
        for slot in 0..<regions.count where regions[slot] != .free {
            var position = Int(truncatingIfNeeded: hashes[slot]) & indexMask
            while index[position] >= 0 { position = (position &+ 1) & indexMask }
            index[position] = Int32(truncatingIfNeeded: slot)
        }
    }

    // MARK: Lists

    private mutating func unlink(_ slot: Int) {
        let region = Int(regions[slot].rawValue)
        let p = previous[slot], n = next[slot]
        if p >= 0 { next[Int(p)] = n } else { heads[region] = n }
        if n >= 0 { previous[Int(n)] = p } else { tails[region] = p }
        regionBytes[region] &-= cost(slot)
    }

    private mutating func pushHead(_ slot: Int, _ region: Region) {
        let r = Int(region.rawValue)
        regions[slot] = region
        previous[slot] = -1
        next[slot] = heads[r]
        if heads[r] >= 0 { previous[Int(heads[r])] = Int32(truncatingIfNeeded: slot) } else { tails[r] = Int32(truncatingIfNeeded: slot) }
        heads[r] = Int32(truncatingIfNeeded: slot)
        regionBytes[r] &+= cost(slot)
    }

    // MARK: Operations

    mutating func get(_ key: UnsafeRawBufferPointer, hash: UInt64, now: Int64) throws(CacheKitError) -> OwnedBytes? {
        let (position, slot) = find(key, hash: hash)
        guard slot >= 0 else {
            sketch.increment(hash)
            return nil
        }
        if expiries[slot] <= now {
            delete(slot, position: position)
            return nil
        }
        sketch.increment(hash)
        touch(slot)
        let valueCount = Int(valueCounts[slot])
        guard let block = blocks[slot] else { return try OwnedBytes(uninitializedCount: 0) }
        return try OwnedBytes(copying: UnsafeRawBufferPointer(start: block + Int(keyCounts[slot]), count: valueCount))
    }

    func contains(_ key: UnsafeRawBufferPointer, hash: UInt64, now: Int64) -> Bool {
        let slot = find(key, hash: hash).slot
        return slot >= 0 && expiries[slot] > now
    }

    /// A hit: window and protected entries move to their list's head; a probation entry is
    /// promoted to protected, demoting protected's tail when protected is over its share.
    private mutating func touch(_ slot: Int) {
        switch regions[slot] {
        case .window:
            unlink(slot); pushHead(slot, .window)
        case .probation:
            unlink(slot); pushHead(slot, .protected)
            let p = Int(Region.protected.rawValue)
            while regionBytes[p] > protectedMaxBytes, tails[p] >= 0, Int(tails[p]) != slot {
                let demoted = Int(tails[p])
                unlink(demoted); pushHead(demoted, .probation)
            }
        case .protected:
            unlink(slot); pushHead(slot, .protected)
        case .free:
            break
        }
    }

    /// Returns (stored, evictions).
    mutating func insert(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, hash: UInt64,
                         expiresAt: Int64) -> (Bool, Int) {
        let newCost = Self.cost(keyCount: key.count, valueCount: value.count)
        guard newCost <= maxBytes, maxEntries > 0,
              let block = malloc(max(key.count &+ value.count, 1)) else {
            _ = remove(key, hash: hash)
            return (false, 0)
        }
        if let k = key.baseAddress, key.count > 0 { memcpy(block, k, key.count) }
        if let v = value.baseAddress, value.count > 0 { memcpy(block + key.count, v, value.count) }

        sketch.increment(hash)
        let (position, existing) = find(key, hash: hash)
        if existing >= 0 {
            // Replace in place, keeping the entry's place in the policy.
            let region = regions[existing]
            unlink(existing)
            totalBytes &-= cost(existing)
            free(blocks[existing])
            blocks[existing] = block
            keyCounts[existing] = Int32(truncatingIfNeeded: key.count)
            valueCounts[existing] = Int32(truncatingIfNeeded: value.count)
            expiries[existing] = expiresAt
            pushHead(existing, region)
            totalBytes &+= newCost
            return (true, evictAsNeeded(candidate: -1))
        }
        _ = position
        growIndexIfNeeded()
        let slot: Int
        if let reused = freeSlots.popLast() {
            slot = Int(reused)
            hashes[slot] = hash; blocks[slot] = block
            keyCounts[slot] = Int32(truncatingIfNeeded: key.count)
            valueCounts[slot] = Int32(truncatingIfNeeded: value.count)
            expiries[slot] = expiresAt
        } else {
            slot = hashes.count
            hashes.append(hash); blocks.append(block)
            keyCounts.append(Int32(truncatingIfNeeded: key.count))
            valueCounts.append(Int32(truncatingIfNeeded: value.count))
            expiries.append(expiresAt)
            previous.append(-1); next.append(-1); regions.append(.free)
        }
        let target = find(key, hash: hash).position
        index[target] = Int32(truncatingIfNeeded: slot)
        pushHead(slot, .window)
        count &+= 1
        totalBytes &+= newCost
        return (true, evictAsNeeded(candidate: slot))
    }

    /// Moves window overflow into probation, then evicts from the main region until both bounds
    /// hold. The last entry to leave the window is the admission candidate: it stays only if the
    /// sketch rates it above the main region's victim.
    private mutating func evictAsNeeded(candidate newest: Int) -> Int {
        let w = Int(Region.window.rawValue), pr = Int(Region.probation.rawValue), pt = Int(Region.protected.rawValue)
        var candidate = -1
        while regionBytes[w] > windowMaxBytes, tails[w] >= 0 {
            let moved = Int(tails[w])
            unlink(moved); pushHead(moved, .probation)
            candidate = moved
        }
        var evicted = 0
        while totalBytes > maxBytes || count > maxEntries {
            let victim: Int
            if tails[pr] >= 0 { victim = Int(tails[pr]) }
            else if tails[pt] >= 0 { victim = Int(tails[pt]) }
            else if tails[w] >= 0 { victim = Int(tails[w]) }
            else { break }
            var loser = victim
            if candidate >= 0, candidate != victim, regions[candidate] != .free {
                if sketch.frequency(hashes[candidate]) <= sketch.frequency(hashes[victim]) { loser = candidate }
                candidate = -1
            }
            let position = find(UnsafeRawBufferPointer(start: blocks[loser], count: Int(keyCounts[loser])),
                                hash: hashes[loser]).position
            delete(loser, position: position)
            evicted &+= 1
        }
        _ = newest
        return evicted
    }

    private mutating func delete(_ slot: Int, position: Int) {
        unlink(slot)
        unindex(at: position)
        totalBytes &-= cost(slot)
        count &-= 1
        free(blocks[slot])
        blocks[slot] = nil
        regions[slot] = .free
        freeSlots.append(Int32(truncatingIfNeeded: slot))
    }

    mutating func remove(_ key: UnsafeRawBufferPointer, hash: UInt64) -> Bool {
        let (position, slot) = find(key, hash: hash)
        guard slot >= 0 else { return false }
        delete(slot, position: position)
        return true
    }

    mutating func removeAll(withPrefix prefix: UnsafeRawBufferPointer) -> Int {
        var doomed: [Int] = []
        for slot in 0..<regions.count where regions[slot] != .free {
            if Int(keyCounts[slot]) >= prefix.count,
               startsWith(blocks[slot], prefix) {
                doomed.append(slot)
            }
        }
        for slot in doomed {
            let key = UnsafeRawBufferPointer(start: blocks[slot], count: Int(keyCounts[slot]))
            let position = find(key, hash: hashes[slot]).position
            delete(slot, position: position)
        }
        return doomed.count
    }

    mutating func removeAll() {
        for slot in 0..<regions.count where regions[slot] != .free {
            let key = UnsafeRawBufferPointer(start: blocks[slot], count: Int(keyCounts[slot]))
            let position = find(key, hash: hashes[slot]).position
            delete(slot, position: position)
        }
    }
}

// Uniquely owned malloc bytes: moving them to another thread is safe.
extension OwnedBytes: @unchecked Sendable {}

/// Monotonic time for expiries (CLOCK_MONOTONIC_COARSE: a few ns to read, ms resolution, plenty
/// for TTLs measured in seconds).
public enum MonotonicClock {
    @inline(__always)
    public static func nowNanoseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC_COARSE, &ts)
        return Int64(ts.tv_sec) &* 1_000_000_000 &+ Int64(ts.tv_nsec)
    }

    public static func preciseNanoseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) &* 1_000_000_000 &+ Int64(ts.tv_nsec)
    }
}
