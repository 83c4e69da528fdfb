import Glibc

/// One shard: entries in one array, linked into three LRU lists, an open-addressing index and a
/// frequency sketch. Each entry's key, stored bytes and optional decoded view live in one
/// malloc block. No reference counting on the hot path.
///
/// Hits read the index and entries without the lock (`L1ReadGate`): everything they read
/// (`L1Table`, `L1Entry`, the blocks) changes only between `gate.close()` and `gate.open()`; the
/// policy (`Links`, the sketch, the counters) is touched only under the lock.
struct L1Shard: ~Copyable, @unchecked Sendable {  // only touched under its shard's lock (readers: see L1ReadGate)
    private enum Region: UInt8 { case free = 0, window, probation, protected }

    /// A slot's place in the policy: never read by lock-free readers.
    private struct Links {
        var previous: Int32 = -1
        var next: Int32 = -1
        var region: Region = .free
        /// The sketch's epoch + 1 when this key's counters were found saturated (0: not known
        /// to be): a hit then skips the increment, which would change nothing.
        var saturatedInEpoch: UInt32 = 0
    }

    let gate: L1ReadGate
    private var links: UnsafeMutablePointer<Links>
    private var capacity: Int
    /// Slots handed out so far; the free ones below it are in `freeSlots`.
    private var slotCount = 0
    private var freeSlots: [Int32] = []

    private let maxBytes: Int
    private let maxEntries: Int
    private let windowMaxBytes: Int
    private let protectedMaxBytes: Int

    // Lists by region (window, probation, protected).
    private var heads: (Int32, Int32, Int32) = (-1, -1, -1)
    private var tails: (Int32, Int32, Int32) = (-1, -1, -1)
    private var regionBytes: (Int, Int, Int) = (0, 0, 0)

    private var sketch: FrequencySketch
    private(set) var count = 0
    private(set) var totalBytes = 0
    /// Hits served under the lock and drained from the gate (`allHits` adds the undrained).
    private var hits = 0
    /// Entries dropped because a lookup found them expired (the `expired` eviction cause).
    private(set) var expirations = 0
    /// The next entry's `serial` (64 bits: never wraps in practice).
    private var nextSerial: UInt64 = 1

    private static let initialCapacity = 16

    init(maxBytes: Int, maxEntries: Int) {
        self.maxBytes = maxBytes
        self.maxEntries = maxEntries
        windowMaxBytes = max(maxBytes / 100, 1)
        protectedMaxBytes = (maxBytes - maxBytes / 100) / 5 * 4
        let index = UnsafeMutablePointer<Int32>.allocate(capacity: Self.initialCapacity)
        index.initialize(repeating: -1, count: Self.initialCapacity)
        gate = L1ReadGate(table: L1Table(index: index, indexMask: Self.initialCapacity - 1,
                                         entries: .allocate(capacity: Self.initialCapacity)))
        links = .allocate(capacity: Self.initialCapacity)
        capacity = Self.initialCapacity
        sketch = FrequencySketch(expectedEntries: min(maxEntries, maxBytes / 256))
    }

    deinit {
        let table = gate.table.pointee
        for slot in 0..<slotCount { free(table.entries[slot].block) }  // nil in free slots
        table.entries.deinitialize(count: slotCount)
        table.entries.deallocate()
        links.deinitialize(count: slotCount)
        links.deallocate()
        table.index.deallocate()
        gate.deallocate()
    }

    @inline(__always)
    private var entries: UnsafeMutablePointer<L1Entry> { gate.table.pointee.entries }
    @inline(__always)
    private var index: UnsafeMutablePointer<Int32> { gate.table.pointee.index }
    @inline(__always)
    private var indexMask: Int { gate.table.pointee.indexMask }

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

    // MARK: Index (changed only with the gate closed)

    @inline(__always)
    private func find(_ key: UnsafeRawBufferPointer, hash: UInt64) -> (position: Int, slot: Int) {
        gate.table.pointee.find(key, hash: hash)
    }

    private func position(of slot: Int) -> Int {
        var position = Int(truncatingIfNeeded: entries[slot].hash) & indexMask
        while Int(index[position]) != slot { position = (position &+ 1) & indexMask }
        return position
    }

    private mutating func unindex(at position: Int) {
        let index = self.index, indexMask = self.indexMask, entries = self.entries
        var hole = position
        var probe = position
        while true {
            probe = (probe &+ 1) & indexMask
            let slot = Int(index[probe])
            if slot < 0 { break }
            let ideal = Int(truncatingIfNeeded: entries[slot].hash) & indexMask
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
        let old = gate.table.pointee
        guard (count &+ 1) &* 2 > old.indexMask &+ 1 else { return }
        let indexCapacity = (old.indexMask &+ 1) &* 2
        let index = UnsafeMutablePointer<Int32>.allocate(capacity: indexCapacity)
        index.initialize(repeating: -1, count: indexCapacity)
        let mask = indexCapacity &- 1
        for slot in 0..<slotCount where links[slot].region != .free {
            var position = Int(truncatingIfNeeded: old.entries[slot].hash) & mask
            while index[position] >= 0 { position = (position &+ 1) & mask }
            index[position] = Int32(truncatingIfNeeded: slot)
        }
        gate.table.pointee.index = index
        gate.table.pointee.indexMask = mask
        old.index.deallocate()  // the gate is closed: no reader holds it
    }

    /// A slot for a new entry: a free one, or a new one (growing both arrays, gate closed).
    private mutating func takeSlot() -> Int {
        if let reused = freeSlots.popLast() { return Int(reused) }
        if slotCount == capacity {
            let grown = capacity &* 2
            let oldEntries = entries
            let newEntries = UnsafeMutablePointer<L1Entry>.allocate(capacity: grown)
            newEntries.moveInitialize(from: oldEntries, count: slotCount)
            gate.table.pointee.entries = newEntries
            oldEntries.deallocate()
            let newLinks = UnsafeMutablePointer<Links>.allocate(capacity: grown)
            newLinks.moveInitialize(from: links, count: slotCount)
            links.deallocate()
            links = newLinks
            capacity = grown
        }
        (entries + slotCount).initialize(to: L1Entry(hash: 0, block: nil, expiresAt: 0, keyCount: 0, storedCount: 0,
                                                     decodedCount: -1, extraIsPlan: false, serial: 0))
        (links + slotCount).initialize(to: Links())
        slotCount &+= 1
        return slotCount &- 1
    }

    // MARK: Lists

    private mutating func unlink(_ slot: Int) {
        let entry = links[slot]
        if entry.previous >= 0 { links[Int(entry.previous)].next = entry.next } else { setHead(entry.region, entry.next) }
        if entry.next >= 0 { links[Int(entry.next)].previous = entry.previous } else { setTail(entry.region, entry.previous) }
        addBytes(entry.region, -entries[slot].cost)
    }

    private mutating func pushHead(_ slot: Int, _ region: Region) {
        let oldHead = head(region)
        let me = Int32(truncatingIfNeeded: slot)
        links[slot].region = region
        links[slot].previous = -1
        links[slot].next = oldHead
        if oldHead >= 0 { links[Int(oldHead)].previous = me } else { setTail(region, me) }
        setHead(region, me)
        addBytes(region, entries[slot].cost)
    }

    // MARK: Operations

    /// The locked lookup (a lock-free read found a writer in, or the entry expired).
    mutating func get(_ key: UnsafeRawBufferPointer, hash: UInt64, now: Int64) throws(CachekitError) -> L1Cache.Hit? {
        let (position, slot) = find(key, hash: hash)
        guard slot >= 0 else {
            sketch.increment(hash)
            return nil
        }
        let entry = entries[slot]
        if entry.expiresAt <= now {
            gate.close()
            delete(slot, position: position)
            gate.open()
            expirations &+= 1
            return nil
        }
        access(slot, hash: hash)
        hits &+= 1
        return try entry.hit()
    }

    /// Applies the accesses lock-free hits sampled since the last drain, from one stripe's ring
    /// (the reader that filled it) or all, and counts their hits.
    mutating func drainReads(stripe: Int? = nil) {
        let gate = self.gate  // a handle; `self` is mutated by the body
        let stripes = stripe.map { $0..<($0 &+ 1) } ?? 0..<L1ReadGate.stripes
        hits &+= gate.drain(stripes) { hash in
            // The sample is a hash: the entry is found by it alone (a 64-bit collision only
            // misdirects one policy update).
            let table = gate.table.pointee
            var position = Int(truncatingIfNeeded: hash) & table.indexMask
            while true {
                let slot = Int(table.index[position])
                if slot < 0 { sketch.increment(hash); return }
                if table.entries[slot].hash == hash { access(slot, hash: hash); return }
                position = (position &+ 1) & table.indexMask
            }
        }
    }

    /// Every hit served, locked or not.
    var allHits: Int { hits &+ gate.undrainedHits }

    /// A hit, for the policy: the sketch (unless the key's counters are saturated) and recency.
    private mutating func access(_ slot: Int, hash: UInt64) {
        let epochTag = sketch.epoch &+ 1
        if links[slot].saturatedInEpoch != epochTag, sketch.increment(hash) { links[slot].saturatedInEpoch = epochTag }
        touch(slot)
    }

    func contains(_ key: UnsafeRawBufferPointer, hash: UInt64, now: Int64) -> Bool {
        let slot = find(key, hash: hash).slot
        return slot >= 0 && entries[slot].expiresAt > now
    }

    /// When the unexpired entry under `key` expires (Int64.max: never), or nil; not an access.
    func expiry(_ key: UnsafeRawBufferPointer, hash: UInt64, now: Int64) -> Int64? {
        let slot = find(key, hash: hash).slot
        guard slot >= 0, entries[slot].expiresAt > now else { return nil }
        return entries[slot].expiresAt
    }

    /// A hit: window and protected entries move to their list's head; a probation entry is
    /// promoted to protected, demoting protected's tail when protected is over its share.
    private mutating func touch(_ slot: Int) {
        let region = links[slot].region
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
        let fresh = L1Entry(hash: hash, block: block, expiresAt: expiresAt,
                            keyCount: Int32(truncatingIfNeeded: key.count),
                            storedCount: Int32(truncatingIfNeeded: stored.count),
                            decodedCount: decoded == nil ? -1 : Int32(truncatingIfNeeded: decodedCount),
                            extraIsPlan: decodedIsPlan && decoded != nil, serial: nextSerial)
        nextSerial &+= 1

        // The policy first sees the hits read since the last write, then this one.
        drainReads()
        if countsAsAccess { sketch.increment(hash) }
        gate.close()
        defer { gate.open() }
        let existing = find(key, hash: hash).slot
        if existing >= 0 {
            // Replace in place, keeping the entry's place in the policy.
            let region = links[existing].region
            unlink(existing)
            totalBytes &-= entries[existing].cost
            free(entries[existing].block)
            entries[existing] = fresh
            links[existing].saturatedInEpoch = 0
            pushHead(existing, region)
            totalBytes &+= fresh.cost
            return (true, evictAsNeeded())
        }
        growIndexIfNeeded()
        let slot = takeSlot()
        entries[slot] = fresh
        links[slot].saturatedInEpoch = 0
        index[find(key, hash: hash).position] = Int32(truncatingIfNeeded: slot)
        pushHead(slot, .window)
        count &+= 1
        totalBytes &+= fresh.cost
        return (true, evictAsNeeded())
    }

    /// Moves window overflow into probation, then evicts from the main region until both bounds
    /// hold. The last entry to leave the window is the admission candidate: it stays only if the
    /// sketch rates it above the main region's victim. Gate closed.
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
            if candidate >= 0, candidate != victim, links[candidate].region != .free {
                if sketch.frequency(entries[candidate].hash) <= sketch.frequency(entries[victim].hash) { loser = candidate }
                candidate = -1
            }
            delete(loser, position: position(of: loser))
            evicted &+= 1
        }
        return evicted
    }

    /// Gate closed.
    private mutating func delete(_ slot: Int, position: Int) {
        unlink(slot)
        unindex(at: position)
        totalBytes &-= entries[slot].cost
        count &-= 1
        free(entries[slot].block)
        entries[slot].block = nil
        links[slot].region = .free
        freeSlots.append(Int32(truncatingIfNeeded: slot))
    }

    mutating func remove(_ key: UnsafeRawBufferPointer, hash: UInt64) -> Bool {
        let (position, slot) = find(key, hash: hash)
        guard slot >= 0 else { return false }
        gate.close()
        delete(slot, position: position)
        gate.open()
        return true
    }

    /// Removes `key` if its entry is still the one with `serial` (a reader's drop of an entry
    /// that did not decode, which must not take a newer write with it).
    mutating func remove(_ key: UnsafeRawBufferPointer, hash: UInt64, ifSerial serial: UInt64) -> Bool {
        let (position, slot) = find(key, hash: hash)
        guard slot >= 0, entries[slot].serial == serial else { return false }
        gate.close()
        delete(slot, position: position)
        gate.open()
        return true
    }

    mutating func removeAll(withPrefix prefix: UnsafeRawBufferPointer) -> Int {
        var doomed: [Int] = []
        for slot in 0..<slotCount where links[slot].region != .free {
            if Int(entries[slot].keyCount) >= prefix.count, L1Entry.startsWith(entries[slot].block, prefix) { doomed.append(slot) }
        }
        guard !doomed.isEmpty else { return 0 }
        gate.close()
        for slot in doomed { delete(slot, position: position(of: slot)) }
        gate.open()
        return doomed.count
    }

    mutating func removeAll() {
        guard count > 0 else { return }
        gate.close()
        for slot in 0..<slotCount where links[slot].region != .free { delete(slot, position: position(of: slot)) }
        gate.open()
    }
}
