/// The cache's cross-process coherence options: the fill lock, sliding TTL, refresh-ahead,
/// stale-if-error and fail-closed decryption (docs/cache.md, "Coherence"). Set through
/// `CacheConfig.set` with the names in `optionNames`.
public struct CoherenceOptions: Sendable, Equatable {
    public var fillLock = FillLockSettings()
    /// cachekit-py's `refresh_ttl_on_get`: an L2 hit with less than `ttlRefreshThreshold` of
    /// its TTL left gets `EXPIRE key ttl`.
    public var refreshTTLOnGet = false
    public var ttlRefreshThreshold = 0.5
    /// Refresh-ahead: a get_or_compute hit older than this fraction of its TTL (0: off) is
    /// returned at once and recomputed in the background by the cache's refresher.
    public var refreshAhead = 0.0
    /// Stale-if-error: seconds past an entry's TTL during which a failed compute returns the
    /// expired value with CACHEKIT_STALE (0: off).
    public var staleIfErrorSeconds = 0
    /// cachekit-py's `encryption_fail_closed` (CACHEKIT_ENCRYPTION_FAIL_CLOSED): an entry that
    /// fails authentication, or names a key this keyring lacks, is an error to the caller.
    public var encryptionFailClosed = false

    public init() {}

    /// Whether an L2 read needs the entry's PTTL whatever L1 does.
    var needsRemainingTTL: Bool { refreshTTLOnGet || refreshAhead > 0 }

    public static let optionNames = [
        "fill_lock", "fill_lock_timeout_ms", "fill_lock_wait_ms", "fill_lock_poll_ms",
        "refresh_ttl_on_get", "ttl_refresh_threshold", "refresh_ahead", "stale_if_error",
        "encryption_fail_closed",
    ]

    /// Sets one option; false when `name` is none of `optionNames`.
    public mutating func set(_ name: String, _ value: String) throws(CachekitError) -> Bool {
        switch name {
        case "fill_lock": fillLock.enabled = try Self.flag(value, name)
        case "fill_lock_timeout_ms": fillLock.holdMilliseconds = try Self.integer(value, name, 1...86_400_000)
        case "fill_lock_wait_ms": fillLock.waitMilliseconds = try Self.integer(value, name, 0...3_600_000)
        case "fill_lock_poll_ms": fillLock.pollMilliseconds = try Self.integer(value, name, 1...60_000)
        case "refresh_ttl_on_get": refreshTTLOnGet = try Self.flag(value, name)
        case "ttl_refresh_threshold": ttlRefreshThreshold = try Self.fraction(value, name)
        case "refresh_ahead": refreshAhead = try Self.fraction(value, name)
        case "stale_if_error": staleIfErrorSeconds = try Self.integer(value, name, 0...2_592_000)
        case "encryption_fail_closed": encryptionFailClosed = try Self.flag(value, name)
        default: return false
        }
        return true
    }

    private static func flag(_ text: String, _ name: String) throws(CachekitError) -> Bool {
        guard let value = CacheConfig.boolean(text) else {
            throw CachekitError(.invalidConfig, "\(name) must be 0 or 1 (or true/false, yes/no, on/off)")
        }
        return value
    }

    private static func integer(_ text: String, _ name: String, _ range: ClosedRange<Int>) throws(CachekitError) -> Int {
        guard let value = Int(text.trimmingSpaces), range.contains(value) else {
            throw CachekitError(.invalidConfig, "\(name) must be an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    /// 0.0 ... 1.0, as cachekit-py validates ttl_refresh_threshold.
    private static func fraction(_ text: String, _ name: String) throws(CachekitError) -> Double {
        guard let value = Double(text.trimmingSpaces), value >= 0, value <= 1 else {
            throw CachekitError(.invalidConfig, "\(name) must be a number in 0.0...1.0")
        }
        return value
    }
}

extension Cache {
    /// The coherence options the cache was built with.
    public var coherenceOptions: CoherenceOptions { coherence }
}
