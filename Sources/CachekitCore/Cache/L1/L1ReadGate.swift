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
    /// Which write made this entry (per shard), so a reader can drop the very entry it read.
    var serial: UInt64

    var cost: Int {
        Int(keyCount) &+ Int(storedCount) &+ max(Int(decodedCount), 0) &+ L1Cache.entryOverhead
    }

    @inline(__always)
    static func startsWith(_ block: UnsafeMutableRawPointer?, _ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count > 0 else { return true }
        guard let block, let base = bytes.baseAddress else { return false }
        return memcmp(block, base, bytes.count) == 0
    }

    @inline(__always)
    var stored: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: block.map { $0 + Int(keyCount) }, count: block == nil ? 0 : Int(storedCount))
    }

    /// The opening plan after the stored bytes, if the entry has one.
    @inline(__always)
    var plan: UnsafeRawBufferPointer? {
        guard extraIsPlan, let block else { return nil }
        return UnsafeRawBufferPointer(start: block + (Int(keyCount) &+ Int(storedCount)), count: Int(decodedCount))
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
/// A reader announces itself in its thread's stripe (`StripedCells.currentStripe`, 384 bytes of
/// its own per stripe), then checks the writer flag: if no writer is in, it reads the index and
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
/// ring of 32 key hashes instead, as in Caffeine's read buffer. Every write drains all stripes
/// first, so the policy sees every hit before it admits or evicts anything (the only decisions
/// it makes). Between writes, a reader drains its own stripe (pulling no other core's lines)
/// once it has recorded four rings' worth, and only the newest ring counts: a run of hits with
/// no writes feeds the policy one access in four. That keeps the lock and the policy's shared
/// lines (list heads, links, sketch) off all but 1 in 128 hits per shard and stripe, which is
/// what lets two cores read one shard at once; the sketch sees every key thinned alike. Threads
/// sharing a stripe may overwrite each other's samples, a loss the policy can afford. Hits are
/// counted exactly, in the high bits of the stripe's reader count (leaving adds them in the
/// same instruction), and folded into the shard's count at each drain.
struct L1ReadGate: @unchecked Sendable {  // a handle: every shared word is an atomic
    private let words: UnsafeMutablePointer<Atomic<Int>>
    let table: UnsafeMutablePointer<L1Table>

    static let sampleCount = 32
    /// Samples a reader lets pile up before it drains its stripe (the ring keeps the newest).
    private static let readerDrainSamples = 4 * sampleCount
    static let stripes = StripedCells.stripeCount
    private static let flagWords = 16            // the writer flag, alone on 128 bytes
    private static let stripeWords = 48          // counters on the first 128 bytes, samples on the next 256
    private static let readersCell = 0, headCell = 1, tailCell = 2, samplesCell = 16
    /// The readers cell holds readers inside in its low bits, hits not yet folded above them.
    private static let hitUnit = 1 << 20
    private static var wordCount: Int { flagWords &+ stripes &* stripeWords }

    init(table: L1Table) {
        let byteCount = Self.wordCount &* MemoryLayout<Atomic<Int>>.stride
        words = UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: 128)
            .bindMemory(to: Atomic<Int>.self, capacity: Self.wordCount)
        for i in 0..<Self.wordCount { (words + i).initialize(to: Atomic(0)) }
        self.table = .allocate(capacity: 1)
        self.table.initialize(to: table)
    }

    /// Frees the gate's memory; the owner calls it once, when no reader or writer can be using it.
    func deallocate() {
        words.deinitialize(count: Self.wordCount)
        UnsafeMutableRawPointer(words).deallocate()
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
        let readers = cell(stripe, Self.readersCell)
        words[readers].wrappingAdd(1, ordering: .sequentiallyConsistent)
        if words[0].load(ordering: .sequentiallyConsistent) == 0 { return true }
        words[readers].wrappingSubtract(1, ordering: .releasing)
        return false
    }

    /// Leaves; `hit`: the read served a value (counted in the same add).
    @inline(__always)
    func leave(_ stripe: Int, hit: Bool) {
        words[cell(stripe, Self.readersCell)].wrappingAdd(hit ? Self.hitUnit &- 1 : -1, ordering: .releasing)
    }

    /// Under the shard's lock: keeps readers out and waits for those inside to leave.
    func close() {
        words[0].store(1, ordering: .sequentiallyConsistent)
        for stripe in 0..<Self.stripes {
            let readers = cell(stripe, Self.readersCell)
            var spins = 0
            while words[readers].load(ordering: .sequentiallyConsistent) & (Self.hitUnit &- 1) != 0 {
                spins &+= 1
                // A reader preempted mid-copy holds us up; let it run rather than burn the core.
                if spins >= 64 { sched_yield(); spins = 0 }
            }
        }
    }

    func open() { words[0].store(0, ordering: .releasing) }

    /// Samples an access for the policy; true when the reader should drain its stripe.
    @inline(__always)
    func record(_ hash: UInt64, stripe: Int) -> Bool {
        let base = cell(stripe, 0)
        let head = words[base &+ Self.headCell].load(ordering: .relaxed)
        words[base &+ Self.samplesCell &+ (head & (Self.sampleCount &- 1))].store(Int(truncatingIfNeeded: hash), ordering: .relaxed)
        words[base &+ Self.headCell].store(head &+ 1, ordering: .releasing)
        return head &+ 1 &- words[base &+ Self.tailCell].load(ordering: .relaxed) >= Self.readerDrainSamples
    }

    /// Under the shard's lock: hands the samples `stripes` recorded since their last drain to
    /// `body`, oldest first (at most the ring's length: older ones were overwritten), and returns
    /// the hits those stripes counted since, now the caller's to count.
    func drain(_ stripes: Range<Int>, _ body: (UInt64) -> Void) -> Int {
        var hits = 0
        for stripe in stripes {
            let base = cell(stripe, 0)
            let counted = words[base &+ Self.readersCell].load(ordering: .relaxed) >> Self.hitUnit.trailingZeroBitCount
            if counted > 0 {
                words[base &+ Self.readersCell].wrappingSubtract(counted &* Self.hitUnit, ordering: .relaxed)
                hits &+= counted
            }
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
        return hits
    }

    /// Under the shard's lock: hits counted by lock-free reads and not yet drained.
    var undrainedHits: Int {
        var total = 0
        for stripe in 0..<Self.stripes {
            total &+= words[cell(stripe, Self.readersCell)].load(ordering: .relaxed) >> Self.hitUnit.trailingZeroBitCount
        }
        return total
    }
}
