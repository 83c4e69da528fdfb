import Glibc

/// One shard: slots in one array, linked into three LRU lists, an open-addressing index and a
/// frequency sketch. Each entry's key, stored bytes and optional decoded view live in one
/// malloc block. No reference counting on the hot path.
struct L1Shard: ~Copyable, @unchecked Sendable {  // only touched under its shard's lock
    private enum Region: UInt8 { case free = 0, window, probation, protected }

    private struct Slot {
        var hash: UInt64
        var block: UnsafeMutableRawPointer?
        var expiresAt: Int64
        var keyCount: Int32
        var storedCount: Int32
        var decodedCount: Int32   // -1: no decoded view
        var previous: Int32
        var next: Int32
        var region: Region
        /// The bytes after the stored value are an opening plan, not a decoded view.
        var extraIsPlan: Bool
        /// The sketch's epoch + 1 when this key's counters were found saturated (0: not known
        /// to be): a hit then skips the increment, which would change nothing.
        var saturatedInEpoch: UInt32 = 0

        var cost: Int {
            Int(keyCount) &+ Int(storedCount) &+ max(Int(decodedCount), 0) &+ L1Cache.entryOverhead
        }
    }

    private let maxBytes: Int
    private let maxEntries: Int
    private let windowMaxBytes: Int
    private let protectedMaxBytes: Int

    private var slots: [Slot] = []
    private var freeSlots: [Int32] = []

    // Lists by region (window, probation, protected).
    private var heads: (Int32, Int32, Int32) = (-1, -1, -1)
    private var tails: (Int32, Int32, Int32) = (-1, -1, -1)
    private var regionBytes: (Int, Int, Int) = (0, 0, 0)

    // Open-addressing index (linear probing, backward-shift deletion) of slot numbers; -1 empty.
    private var index: [Int32]
    private var indexMask: Int

    private var sketch: FrequencySketch
    private(set) var count = 0
    private(set) var totalBytes = 0
    private(set) var hits = 0
    /// Entries dropped because a lookup found them expired (the `expired` eviction cause).
    private(set) var expirations = 0

    init(maxBytes: Int, maxEntries: Int) {
        self.maxBytes = maxBytes
        self.maxEntries = maxEntries
        windowMaxBytes = max(maxBytes / 100, 1)
        protectedMaxBytes = (maxBytes - maxBytes / 100) / 5 * 4
        index = [Int32](repeating: -1, count: 16)
        indexMask = 15
        sketch = FrequencySketch(expectedEntries: min(maxEntries, maxBytes / 256))
    }

    deinit {
        for slot in slots { free(slot.block) }
    }

    // MARK: Region bookkeeping

    @inline(__always)
    private func head(_ region: Region) -> Int32 {
        switch region { case .window: heads.0; case .probation: heads.1; case .protected: heads.2; case .free: -1 }
    }

    @inline(__always)
    private func tail(_ region: Region) -> Int32 {
        switch region { case .window: tails.0; case .probation: tails.1; case .protected: tails.2; case .free: -1 }
    }

    @inline(__always)
    private mutating func setHead(_ region: Region, _ value: Int32) {
        switch region { case .window: heads.0 = value; case .probation: heads.1 = value; case .protected: heads.2 = value; case .free: break }
    }

    @inline(__always)
    private mutating func setTail(_ region: Region, _ value: Int32) {
        switch region { case .window: tails.0 = value; case .probation: tails.1 = value; case .protected: tails.2 = value; case .free: break }
    }

    @inline(__always)
    private func bytes(_ region: Region) -> Int {
        switch region { case .window: regionBytes.0; case .probation: regionBytes.1; case .protected: regionBytes.2; case .free: 0 }
    }

    @inline(__always)
    private mutating func addBytes(_ region: Region, _ delta: Int) {
        switch region {
        case .window: regionBytes.0 &+= delta
        case .probation: regionBytes.1 &+= delta
        case .protected: regionBytes.2 &+= delta
        case .free: break
        }
    }

    // MARK: Index

    @inline(__always)
    private static func startsWith(_ block: UnsafeMutableRawPointer?, _ bytes: UnsafeRawBufferPointer) -> Bool {
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
            let candidate = slots[slot]
            if candidate.hash == hash, Int(candidate.keyCount) == key.count, Self.startsWith(candidate.block, key) {
                return (position, slot)
            }
            position = (position &+ 1) & indexMask
        }
    }

    private func position(of slot: Int) -> Int {
        var position = Int(truncatingIfNeeded: slots[slot].hash) & indexMask
        while Int(index[position]) != slot { position = (position &+ 1) & indexMask }
        return position
    }

    private mutating func unindex(at position: Int) {
        var hole = position
        var probe = position
        while true {
            probe = (probe &+ 1) & indexMask
            let slot = Int(index[probe])
            if slot < 0 { break }
            let ideal = Int(truncatingIfNeeded: slots[slot].hash) & indexMask
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
        for slot in 0..<slots.count where slots[slot].region != .free {
            var position = Int(truncatingIfNeeded: slots[slot].hash) & indexMask
            while index[position] >= 0 { position = (position &+ 1) & indexMask }
            index[position] = Int32(truncatingIfNeeded: slot)
        }
    }

    // MARK: Lists

    private mutating func unlink(_ slot: Int) {
        let entry = slots[slot]
        if entry.previous >= 0 { slots[Int(entry.previous)].next = entry.next } else { setHead(entry.region, entry.next) }
        if entry.next >= 0 { slots[Int(entry.next)].previous = entry.previous } else { setTail(entry.region, entry.previous) }
        addBytes(entry.region, -entry.cost)
    }

    private mutating func pushHead(_ slot: Int, _ region: Region) {
        let oldHead = head(region)
        let me = Int32(truncatingIfNeeded: slot)
        slots[slot].region = region
        slots[slot].previous = -1
        slots[slot].next = oldHead
        if oldHead >= 0 { slots[Int(oldHead)].previous = me } else { setTail(region, me) }
        setHead(region, me)
        addBytes(region, slots[slot].cost)
    }

    // MARK: Operations

    mutating func get(_ key: UnsafeRawBufferPointer, hash: UInt64, now: Int64) throws(CachekitError) -> L1Cache.Hit? {
        let (position, slot) = find(key, hash: hash)
        guard slot >= 0 else {
            sketch.increment(hash)
            return nil
        }
        let entry = slots[slot]
        if entry.expiresAt <= now {
            delete(slot, position: position)
            expirations &+= 1
            return nil
        }
        let epochTag = sketch.epoch &+ 1
        if entry.saturatedInEpoch != epochTag, sketch.increment(hash) { slots[slot].saturatedInEpoch = epochTag }
        touch(slot)
        hits &+= 1
        guard let block = entry.block else {
            return L1Cache.Hit(bytes: try OwnedBytes(uninitializedCount: 0), isDecoded: false, planCount: 0)
        }
        let storedStart = block + Int(entry.keyCount)
        if entry.extraIsPlan {
            // Stored bytes and plan are adjacent in the block: one copy of both.
            let both = UnsafeRawBufferPointer(start: storedStart, count: Int(entry.storedCount) &+ Int(entry.decodedCount))
            return L1Cache.Hit(bytes: try OwnedBytes(copying: both), isDecoded: false, planCount: Int(entry.decodedCount))
        }
        if entry.decodedCount >= 0 {
            let view = UnsafeRawBufferPointer(start: storedStart + Int(entry.storedCount), count: Int(entry.decodedCount))
            return L1Cache.Hit(bytes: try OwnedBytes(copying: view), isDecoded: true, planCount: 0)
        }
        let stored = UnsafeRawBufferPointer(start: storedStart, count: Int(entry.storedCount))
        return L1Cache.Hit(bytes: try OwnedBytes(copying: stored), isDecoded: false, planCount: 0)
    }

    func contains(_ key: UnsafeRawBufferPointer, hash: UInt64, now: Int64) -> Bool {
        let slot = find(key, hash: hash).slot
        return slot >= 0 && slots[slot].expiresAt > now
    }

    /// When the unexpired entry under `key` expires (Int64.max: never), or nil; not an access.
    func expiry(_ key: UnsafeRawBufferPointer, hash: UInt64, now: Int64) -> Int64? {
        let slot = find(key, hash: hash).slot
        guard slot >= 0, slots[slot].expiresAt > now else { return nil }
        return slots[slot].expiresAt
    }

    /// A hit: window and protected entries move to their list's head; a probation entry is
    /// promoted to protected, demoting protected's tail when protected is over its share.
    private mutating func touch(_ slot: Int) {
        let region = slots[slot].region
        // A hot key is usually already its list's head: moving it there again changes nothing.
        if region != .probation, head(region) == Int32(truncatingIfNeeded: slot) { return }
        switch region {
        case .window:
            unlink(slot); pushHead(slot, .window)
        case .probation:
            unlink(slot); pushHead(slot, .protected)
            while bytes(.protected) > protectedMaxBytes, tail(.protected) >= 0, Int(tail(.protected)) != slot {
                let demoted = Int(tail(.protected))
                unlink(demoted); pushHead(demoted, .probation)
            }
        case .protected:
            unlink(slot); pushHead(slot, .protected)
        case .free:
            break
        }
    }

    /// Returns (kept, evictions).
    /// `decoded`: a decoded view, or with `decodedIsPlan` an opening plan.
    mutating func insert(_ key: UnsafeRawBufferPointer, _ stored: UnsafeRawBufferPointer, decoded: UnsafeRawBufferPointer?,
                         decodedIsPlan: Bool = false, hash: UInt64, expiresAt: Int64, countsAsAccess: Bool) -> (Bool, Int) {
        let decodedCount = decoded?.count ?? 0
        let total = key.count &+ stored.count &+ decodedCount
        guard total &+ L1Cache.entryOverhead <= maxBytes, maxEntries > 0, let block = malloc(max(total, 1)) else {
            _ = remove(key, hash: hash)
            return (false, 0)
        }
        if let k = key.baseAddress, key.count > 0 { memcpy(block, k, key.count) }
        if let v = stored.baseAddress, stored.count > 0 { memcpy(block + key.count, v, stored.count) }
        if let d = decoded?.baseAddress, decodedCount > 0 { memcpy(block + key.count + stored.count, d, decodedCount) }
        let fresh = Slot(hash: hash, block: block, expiresAt: expiresAt,
                         keyCount: Int32(truncatingIfNeeded: key.count),
                         storedCount: Int32(truncatingIfNeeded: stored.count),
                         decodedCount: decoded == nil ? -1 : Int32(truncatingIfNeeded: decodedCount),
                         previous: -1, next: -1, region: .free, extraIsPlan: decodedIsPlan && decoded != nil)

        if countsAsAccess { sketch.increment(hash) }
        let existing = find(key, hash: hash).slot
        if existing >= 0 {
            // Replace in place, keeping the entry's place in the policy.
            let region = slots[existing].region
            unlink(existing)
            totalBytes &-= slots[existing].cost
            free(slots[existing].block)
            slots[existing] = fresh
            pushHead(existing, region)
            totalBytes &+= fresh.cost
            return (true, evictAsNeeded())
        }
        growIndexIfNeeded()
        let slot: Int
        if let reused = freeSlots.popLast() {
            slot = Int(reused)
            slots[slot] = fresh
        } else {
            slot = slots.count
            slots.append(fresh)
        }
        index[find(key, hash: hash).position] = Int32(truncatingIfNeeded: slot)
        pushHead(slot, .window)
        count &+= 1
        totalBytes &+= fresh.cost
        return (true, evictAsNeeded())
    }

    /// Moves window overflow into probation, then evicts from the main region until both bounds
    /// hold. The last entry to leave the window is the admission candidate: it stays only if the
    /// sketch rates it above the main region's victim.
    private mutating func evictAsNeeded() -> Int {
        var candidate = -1
        while bytes(.window) > windowMaxBytes, tail(.window) >= 0 {
            let moved = Int(tail(.window))
            unlink(moved); pushHead(moved, .probation)
            candidate = moved
        }
        var evicted = 0
        while totalBytes > maxBytes || count > maxEntries {
            let victim: Int
            if tail(.probation) >= 0 { victim = Int(tail(.probation)) }
            else if tail(.protected) >= 0 { victim = Int(tail(.protected)) }
            else if tail(.window) >= 0 { victim = Int(tail(.window)) }
            else { break }
            var loser = victim
            if candidate >= 0, candidate != victim, slots[candidate].region != .free {
                if sketch.frequency(slots[candidate].hash) <= sketch.frequency(slots[victim].hash) { loser = candidate }
                candidate = -1
            }
            delete(loser, position: position(of: loser))
            evicted &+= 1
        }
        return evicted
    }

    private mutating func delete(_ slot: Int, position: Int) {
        unlink(slot)
        unindex(at: position)
        totalBytes &-= slots[slot].cost
        count &-= 1
        free(slots[slot].block)
        slots[slot].block = nil
        slots[slot].region = .free
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
        for slot in 0..<slots.count where slots[slot].region != .free {
            if Int(slots[slot].keyCount) >= prefix.count, Self.startsWith(slots[slot].block, prefix) { doomed.append(slot) }
        }
        for slot in doomed { delete(slot, position: position(of: slot)) }
        return doomed.count
    }

    mutating func removeAll() {
        for slot in 0..<slots.count where slots[slot].region != .free { delete(slot, position: position(of: slot)) }
    }
}
