import Glibc
import Synchronization

/// What a lock-free reader reads of one entry. Written only while its shard's gate is closed.
struct L1Entry {
    var hash: UInt64
    var block: UnsafeMutableRawPointer?   // key, stored bytes, then the decoded view or plan
    var expiresAt: Int64
    var keyCount: Int32
    var storedCount: Int32
    var decodedCount: Int32   // -1: no decoded view
    /// The bytes after the stored value are an opening plan, not a decoded view.
    var extraIsPlan: Bool

    var cost: Int {
        Int(keyCount) &+ Int(storedCount) &+ max(Int(decodedCount), 0) &+ L1Cache.entryOverhead
    }

    @inline(__always)
    static func startsWith(_ block: UnsafeMutableRawPointer?, _ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count > 0 else { return true }
        guard let block, let base = bytes.baseAddress else { return false }
        return memcmp(block, base, bytes.count) == 0
    }

    /// A copy of what a hit on this entry returns.
    @inline(__always)
    func hit() throws(CachekitError) -> L1Cache.Hit {
        guard let block else {
            return L1Cache.Hit(bytes: try OwnedBytes(uninitializedCount: 0), isDecoded: false, planCount: 0)
        }
        let storedStart = block + Int(keyCount)
        if extraIsPlan {
            // Stored bytes and plan are adjacent in the block: one copy of both.
            let both = UnsafeRawBufferPointer(start: storedStart, count: Int(storedCount) &+ Int(decodedCount))
            return L1Cache.Hit(bytes: try OwnedBytes(copying: both), isDecoded: false, planCount: Int(decodedCount))
        }
        if decodedCount >= 0 {
            let view = UnsafeRawBufferPointer(start: storedStart + Int(storedCount), count: Int(decodedCount))
            return L1Cache.Hit(bytes: try OwnedBytes(copying: view), isDecoded: true, planCount: 0)
        }
        let stored = UnsafeRawBufferPointer(start: storedStart, count: Int(storedCount))
        return L1Cache.Hit(bytes: try OwnedBytes(copying: stored), isDecoded: false, planCount: 0)
    }
}

/// A shard's open-addressing index (linear probing; slot numbers, -1 empty) and its entries, as
/// readers find them. Both change only while the shard's gate is closed.
struct L1Table {
    var index: UnsafeMutablePointer<Int32>
    var indexMask: Int
    var entries: UnsafeMutablePointer<L1Entry>

    /// (index position, slot) of `key`, or the empty position where it would go and -1.
    @inline(__always)
    func find(_ key: UnsafeRawBufferPointer, hash: UInt64) -> (position: Int, slot: Int) {
        var position = Int(truncatingIfNeeded: hash) & indexMask
        while true {
            let slot = Int(index[position])
            if slot < 0 { return (position, -1) }
            let candidate = entries[slot]
            if candidate.hash == hash, Int(candidate.keyCount) == key.count, L1Entry.startsWith(candidate.block, key) {
                return (position, slot)
            }
            position = (position &+ 1) & indexMask
        }
    }
}

/// How hits read a shard without its lock and without writing any cache line another core
/// uses (a big-reader lock, as the Linux kernel's brlock, plus Caffeine's striped read buffer).
///
/// A reader announces itself in its thread's stripe (`StripedCells.currentStripe`, one 256-byte
/// block per stripe), then checks the writer flag: if no writer is in, it reads the index and
/// copies the entry out, and leaves. A writer, already holding the shard's lock, raises the flag
/// and waits until every stripe's announced readers have left before it changes or frees anything
/// readers read; it lowers the flag when done. So a reader never sees a half-written table or
/// entry, and storage is freed only when no reader can hold it: no epochs or hazard pointers
/// (a hit is short, a probe and one copy, so a writer's wait is too), and no deferred frees.
/// Both sides use sequentially consistent announce/flag operations (Dekker's pattern: at least
/// one sees the other); the reader's release on leaving and the writer's release on opening
/// give ThreadSanitizer the happens-before edges for every plain access.
///
/// The access a hit would record for the eviction policy (sketch, LRU) goes into the stripe's
/// ring of 16 key hashes instead, drained under the lock by writers and by the reader that fills
/// it (when the lock is free). Threads sharing a stripe may overwrite each other's samples:
/// the policy loses a few accesses under contention, as Caffeine's read buffer does; hits are
/// counted exactly, per stripe.
struct L1ReadGate: @unchecked Sendable {  // a handle: every shared word is an atomic
    private let words: UnsafeMutablePointer<Atomic<Int>>
    let table: UnsafeMutablePointer<L1Table>

    static let sampleCount = 16
    private static let stripes = StripedCells.stripeCount
    private static let flagWords = 16            // the writer flag, alone on 128 bytes
    private static let stripeWords = 32          // counters on the first 128 bytes, samples on the next
    private static let activeCell = 0, hitsCell = 1, headCell = 2, tailCell = 3, samplesCell = 16
    private static var wordCount: Int { flagWords &+ stripes &* stripeWords }

    init(table: L1Table) {
        words = .allocate(capacity: Self.wordCount)
        for i in 0..<Self.wordCount { (words + i).initialize(to: Atomic(0)) }
        self.table = .allocate(capacity: 1)
        self.table.initialize(to: table)
    }

    /// Frees the gate's memory; the owner calls it once, when no reader or writer can be using it.
    func deallocate() {
        words.deinitialize(count: Self.wordCount)
        words.deallocate()
        table.deinitialize(count: 1)
        table.deallocate()
    }

    @inline(__always)
    private func cell(_ stripe: Int, _ cell: Int) -> Int {
        Self.flagWords &+ (stripe & (Self.stripes &- 1)) &* Self.stripeWords &+ cell
    }

    /// Announces a reader; false (and not announced) when a writer is in: take the lock instead.
    @inline(__always)
    func enter(_ stripe: Int) -> Bool {
        let active = cell(stripe, Self.activeCell)
        words[active].wrappingAdd(1, ordering: .sequentiallyConsistent)
        if words[0].load(ordering: .sequentiallyConsistent) == 0 { return true }
        words[active].wrappingSubtract(1, ordering: .releasing)
        return false
    }

    @inline(__always)
    func leave(_ stripe: Int) {
        words[cell(stripe, Self.activeCell)].wrappingSubtract(1, ordering: .releasing)
    }

    /// Under the shard's lock: keeps readers out and waits for those inside to leave.
    func close() {
        words[0].store(1, ordering: .sequentiallyConsistent)
        for stripe in 0..<Self.stripes {
            let active = cell(stripe, Self.activeCell)
            var spins = 0
            while words[active].load(ordering: .sequentiallyConsistent) != 0 {
                spins &+= 1
                // A reader preempted mid-copy holds us up; let it run rather than burn the core.
                if spins >= 64 { sched_yield(); spins = 0 }
            }
        }
    }

    func open() { words[0].store(0, ordering: .releasing) }

    /// Counts a hit (`hit`) and samples the access; true when the stripe's ring is full.
    @inline(__always)
    func record(_ hash: UInt64, stripe: Int, hit: Bool) -> Bool {
        let base = cell(stripe, 0)
        if hit { words[base &+ Self.hitsCell].wrappingAdd(1, ordering: .relaxed) }
        let head = words[base &+ Self.headCell].load(ordering: .relaxed)
        words[base &+ Self.samplesCell &+ (head & (Self.sampleCount &- 1))].store(Int(truncatingIfNeeded: hash), ordering: .relaxed)
        words[base &+ Self.headCell].store(head &+ 1, ordering: .releasing)
        return head &+ 1 &- words[base &+ Self.tailCell].load(ordering: .relaxed) >= Self.sampleCount
    }

    /// Under the shard's lock: hands every sample recorded since the last drain to `body`, oldest
    /// first (at most the ring's length per stripe: older ones were overwritten).
    func drain(_ body: (UInt64) -> Void) {
        for stripe in 0..<Self.stripes {
            let base = cell(stripe, 0)
            let head = words[base &+ Self.headCell].load(ordering: .acquiring)
            let tail = words[base &+ Self.tailCell].load(ordering: .relaxed)
            let pending = head &- tail
            if pending == 0 { continue }
            // Negative when two threads' unlocked head updates crossed: those samples are lost.
            var position = pending < 0 ? head : (pending > Self.sampleCount ? head &- Self.sampleCount : tail)
            while position != head {
                let sample = words[base &+ Self.samplesCell &+ (position & (Self.sampleCount &- 1))].load(ordering: .relaxed)
                body(UInt64(truncatingIfNeeded: sample))
                position &+= 1
            }
            words[base &+ Self.tailCell].store(head, ordering: .relaxed)
        }
    }

    /// Hits served by lock-free reads.
    var hits: Int {
        var total = 0
        for stripe in 0..<Self.stripes { total &+= words[cell(stripe, Self.hitsCell)].load(ordering: .relaxed) }
        return total
    }
}
