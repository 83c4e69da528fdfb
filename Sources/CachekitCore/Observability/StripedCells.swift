import Synchronization

/// Counters spread over 16 stripes of their own cache lines, each updated with a relaxed atomic
/// by the threads that hash to it, and summed only when read (a scrape). Two threads rarely
/// share a stripe, so an update is an uncontended add on a line the thread already owns: no lock,
/// no cache line bouncing between cores as one shared counter would.
public final class StripedCells: @unchecked Sendable {  // cells are only touched atomically
    public static let stripeCount = 16
    public let cellCount: Int
    /// Cells per stripe, rounded up to 16 (128 bytes: two cache lines, the adjacent-line prefetcher's pair).
    private let stride: Int
    private let cells: UnsafeMutablePointer<Atomic<Int>>

    public init(cellCount: Int) {
        self.cellCount = max(cellCount, 1)
        stride = (self.cellCount + 15) & ~15
        let total = stride * Self.stripeCount
        cells = .allocate(capacity: total)
        for i in 0..<total { (cells + i).initialize(to: Atomic(0)) }
    }

    deinit {
        cells.deinitialize(count: stride * Self.stripeCount)
        cells.deallocate()
    }

    /// The calling thread's stripe, from the address of its stack: threads' stacks lie at least
    /// 64 KiB apart, so this needs no thread-local storage and no call (Swift declares none).
    @inline(__always)
    public static func currentStripe() -> Int {
        var marker: UInt8 = 0
        let address = withUnsafeMutablePointer(to: &marker) { UInt64(UInt(bitPattern: $0)) }
        return Int(truncatingIfNeeded: ((address >> 16) &* 0x9E37_79B9_7F4A_7C15) >> 60)
    }

    @inline(__always)
    public func add(_ cell: Int, _ amount: Int = 1, stripe: Int) {
        cells[(stripe & (Self.stripeCount &- 1)) &* stride &+ cell].add(amount, ordering: .relaxed)
    }

    /// Bumps a stripe's cell with a plain load and store (no locked instruction) and returns the
    /// new value: for sampling ticks, where a lost update between two threads only shifts a sample.
    @inline(__always)
    public func tick(_ cell: Int, stripe: Int) -> Int {
        let index = (stripe & (Self.stripeCount &- 1)) &* stride &+ cell
        let next = cells[index].load(ordering: .relaxed) &+ 1
        cells[index].store(next, ordering: .relaxed)
        return next
    }

    /// The cell summed over every stripe.
    public func sum(_ cell: Int) -> Int {
        var total = 0
        for stripe in 0..<Self.stripeCount { total &+= cells[stripe &* stride &+ cell].load(ordering: .relaxed) }
        return total
    }
}

/// A Prometheus histogram over striped cells: one cell per bucket (the last is +Inf) and one for
/// the sum, all in the observed unit (nanoseconds, bytes); exported in `exportScale` units.
public final class StripedHistogram: Sendable {
    /// Upper bounds (inclusive, as Prometheus's `le`), ascending, in the observed unit.
    public let bounds: [Int]
    /// The `le` label of each bound as prometheus_client prints it (floatToGoString), so one
    /// bucket series is one series whichever SDK wrote it.
    public let boundLabels: [String]
    /// Multiplies an observed sum into the exported unit (1e-6: ns to ms).
    public let exportScale: Double
    private let cells: StripedCells

    public init(bounds: [Int], boundLabels: [String], exportScale: Double) {
        self.bounds = bounds
        self.boundLabels = boundLabels
        self.exportScale = exportScale
        cells = StripedCells(cellCount: bounds.count + 2)
    }

    @inline(__always)
    public func observe(_ value: Int, stripe: Int = StripedCells.currentStripe()) {
        var bucket = 0
        while bucket < bounds.count, value > bounds[bucket] { bucket &+= 1 }
        cells.add(bucket, 1, stripe: stripe)
        cells.add(bounds.count &+ 1, max(value, 0), stripe: stripe)
    }

    public struct Snapshot: Sendable, Equatable {
        /// Cumulative counts, one per bound and a last for +Inf (equal to `count`).
        public var cumulative: [Int]
        public var count: Int { cumulative.last ?? 0 }
        /// The observed values' sum in the exported unit.
        public var sum: Double
    }

    public var snapshot: Snapshot {
        var running = 0
        var cumulative: [Int] = []
        cumulative.reserveCapacity(bounds.count + 1)
        for bucket in 0...bounds.count {
            running &+= cells.sum(bucket)
            cumulative.append(running)
        }
        return Snapshot(cumulative: cumulative, sum: Double(cells.sum(bounds.count &+ 1)) * exportScale)
    }
}
