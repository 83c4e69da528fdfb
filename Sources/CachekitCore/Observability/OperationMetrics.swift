import Synchronization

/// The per-operation series a cache records on its own paths (the counters it already kept are
/// in `CacheStats`): cachekit-py's duration and size histograms, failures by operation, and the
/// L2 round-trip histogram. Every update goes to the calling thread's stripe (`StripedCells`).
///
/// L1 hits are timed 1 in `l1SamplePeriod` (per stripe): two precise clock reads would cost more
/// than the ~55 ns hit itself. Their count is exact in `cache_operations_total` (L1's own counter).
public final class OperationMetrics: Sendable {
    /// cachekit-py's DURATION_BUCKETS_MS (reliability/async_metrics.py), here in nanoseconds.
    public static let durationBoundsNanoseconds = [
        10_000, 50_000, 100_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000, 25_000_000,
        50_000_000, 100_000_000, 250_000_000, 500_000_000, 1_000_000_000,
    ]
    static let durationLabelsMilliseconds = [
        "0.01", "0.05", "0.1", "0.5", "1.0", "2.5", "5.0", "10.0", "25.0", "50.0", "100.0", "250.0", "500.0", "1000.0",
    ]
    static let durationLabelsSeconds = [
        "1e-05", "5e-05", "0.0001", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0",
    ]
    /// cachekit-py's SIZE_BUCKETS_BYTES: powers of 4, 16 B through 256 MiB.
    public static let sizeBoundsBytes = (2...14).map { 1 << (2 * $0) }
    static let sizeLabels = [
        "16.0", "64.0", "256.0", "1024.0", "4096.0", "16384.0", "65536.0", "262144.0", "1.048576e+06",
        "4.194304e+06", "1.6777216e+07", "6.7108864e+07", "2.68435456e+08",
    ]
    public static let l1SamplePeriod = 64

    /// The operations failures are counted by (cachekit-py's `operation` label).
    public enum Operation: Int, CaseIterable, Sendable {
        case get, set, delete, exists, invalidate, registry, publish

        public var label: String {
            switch self {
            case .get: "get"
            case .set: "set"
            case .delete: "delete"
            case .exists: "exists"
            case .invalidate: "invalidate"
            case .registry: "registry"
            case .publish: "publish"
            }
        }
    }

    static func durations(seconds: Bool = false) -> StripedHistogram {
        StripedHistogram(bounds: durationBoundsNanoseconds,
                         boundLabels: seconds ? durationLabelsSeconds : durationLabelsMilliseconds,
                         exportScale: seconds ? 1e-9 : 1e-6)
    }

    static func sizes() -> StripedHistogram {
        StripedHistogram(bounds: sizeBoundsBytes, boundLabels: sizeLabels, exportScale: 1)
    }

    /// get served by L1 (sampled), by Redis; set (the whole write: encode excluded, both tiers).
    public let l1GetDuration = durations(), l1GetSize = sizes()
    public let l2GetDuration = durations(), l2GetSize = sizes()
    public let setDuration = durations()
    /// Every successful Redis round trip, in seconds (libcachekit's own series).
    public let l2RoundTrip = durations(seconds: true)
    /// Operations that met a second-tier failure, by `Operation`.
    let failures = StripedCells(cellCount: Operation.allCases.count)
    /// The L1 hit path's sampling ticks (raw memory, so the hit path takes no reference).
    public let l1Sampler = L1HitSampler()
    /// The `namespace` label of every series and log event (the metrics_namespace option).
    public let namespace: String
    let logSampler: LogSampler

    deinit { l1Sampler.deallocate() }

    public init(namespace: String = "default", logSamplingRate: Double = 1) {
        self.namespace = namespace
        logSampler = LogSampler(rate: logSamplingRate)
    }

    /// Emits `name` with `fields` (built only when a handler wants the level and the sampler
    /// admits it); every event carries the namespace.
    @inline(__always)
    public func log(_ level: LogLevel, _ name: String, _ fields: @autoclosure () -> [(name: String, value: String)]) {
        guard LogHook.isEnabled(level), logSampler.admits(level) else { return }
        LogHook.emit(LogEvent(level: level, name: name, fields: [("namespace", namespace)] + fields()))
    }

    /// A second-tier failure of `operation` (fail-open or reported): counted, and logged at WARNING.
    func recordFailure(_ operation: Operation, _ error: CachekitError) {
        recordFailure(operation)
        log(.warning, "l2.failure", [("operation", operation.label), ("tier", "l2"),
                                     ("status", "\(error.status.rawValue)"), ("error", error.message)])
    }

    public func recordFailure(_ operation: Operation) { failures.add(operation.rawValue, stripe: StripedCells.currentStripe()) }
    public func failureCount(_ operation: Operation) -> Int { failures.sum(operation.rawValue) }

    @inline(never)  // 1 hit in 64: kept out of the hit path's code
    func recordL1Hit(started: Int64, size: Int) {
        let stripe = StripedCells.currentStripe()
        l1GetDuration.observe(Int(MonotonicClock.preciseNanoseconds() &- started), stripe: stripe)
        l1GetSize.observe(size, stripe: stripe)
    }

    func recordL2Hit(started: Int64, size: Int) {
        let stripe = StripedCells.currentStripe()
        l2GetDuration.observe(Int(MonotonicClock.preciseNanoseconds() &- started), stripe: stripe)
        l2GetSize.observe(size, stripe: stripe)
    }

    func recordSet(started: Int64) {
        setDuration.observe(Int(MonotonicClock.preciseNanoseconds() &- started))
    }
}

/// One tick counter per stripe, each on its own 128 bytes, in memory `OperationMetrics` owns:
/// a copy of this struct in the cache reaches it without reference counting, which on a ~55 ns
/// L1 hit would cost more than the tick itself.
public struct L1HitSampler: @unchecked Sendable {  // the ticks are only touched atomically
    private static let stride = 16
    private let ticks: UnsafeMutablePointer<Atomic<Int>>

    init() {
        let count = Self.stride * StripedCells.stripeCount
        ticks = .allocate(capacity: count)
        for i in 0..<count { (ticks + i).initialize(to: Atomic(0)) }
    }

    func deallocate() {
        ticks.deinitialize(count: Self.stride * StripedCells.stripeCount)
        ticks.deallocate()
    }

    /// The start of an L1 lookup to time (precise clock), or 0 when this one is not sampled: a
    /// plain load and store of the stripe's tick (a lost update only shifts a sample).
    @inline(__always)
    func start() -> Int64 {
        let tick = ticks + StripedCells.currentStripe() &* Self.stride
        let next = tick.pointee.load(ordering: .relaxed) &+ 1
        tick.pointee.store(next, ordering: .relaxed)
        guard next & (OperationMetrics.l1SamplePeriod &- 1) == 0 else { return 0 }
        return MonotonicClock.preciseNanoseconds()
    }
}
