/// What a second tier adds to the cache's exposition and health report (RedisL2 conforms in
/// CachekitRedis; a cluster tier would report one node per shard). Optional: a store that does
/// not conform contributes nothing.
public protocol ObservableTier {
    /// Appends the tier's own families, every sample carrying `labels` (the cache's namespace).
    func writeMetrics(_ text: inout PrometheusText, labels: PrometheusText.Labels)
    /// The tier's part of the health report: its state, breaker, pool, nodes (no credentials).
    func healthComponents() -> [(String, JSONValue)]
    /// cachekit-py's breaker state name (CLOSED, OPEN, HALF_OPEN), nil without a breaker.
    var breakerStateName: String? { get }
}

/// Samples the log: DEBUG, INFO and WARNING events pass with the configured probability
/// (cachekit-py's log_sampling_rate), ERROR always, as cachekit-py's StructuredLogger does.
/// The draw is a hash of a striped tick: no shared state, no system call.
struct LogSampler: Sendable {
    /// rate * 2^32; 2^32 and over: every event.
    let threshold: UInt64
    private let ticks = StripedCells(cellCount: 1)

    init(rate: Double) {
        threshold = rate >= 1 ? 1 << 32 : UInt64(max(rate, 0) * 4_294_967_296)
    }

    func admits(_ level: LogLevel) -> Bool {
        if level == .error || threshold >= 1 << 32 { return true }
        if threshold == 0 { return false }
        let stripe = StripedCells.currentStripe()
        var x = UInt64(truncatingIfNeeded: ticks.tick(0, stripe: stripe)) &+ UInt64(stripe) << 56
        x = (x ^ (x >> 30)) &* 0xBF58_476D_1CE4_E5B9  // splitmix64's finalizer
        x = (x ^ (x >> 27)) &* 0x94D0_49BB_1331_11EB
        return (x >> 32) < threshold
    }
}
