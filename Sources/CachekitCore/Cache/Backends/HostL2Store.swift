/// A second tier the host provides (cachekit-py's `backend=` objects): four byte operations on
/// the stored entries, which the cache has already enveloped and, when secure, encrypted.
/// Implemented over C callbacks in CachekitABI; each call may throw a backend status.
public protocol HostBackend: AnyObject, Sendable {
    /// The stored bytes under `key`, or nil when absent.
    func get(_ key: [UInt8]) throws(CachekitError) -> HostValue?
    /// Stores for `ttlSeconds` (0: no expiry).
    func set(_ key: [UInt8], _ value: UnsafeRawBufferPointer, ttlSeconds: Int) throws(CachekitError)
    /// Whether `key` existed.
    func delete(_ key: [UInt8]) throws(CachekitError) -> Bool
    func exists(_ key: [UInt8]) throws(CachekitError) -> Bool
}

/// A value a host backend returned and what it says of the entry's lifetime.
public struct HostValue: Sendable {
    public enum Lifetime: Sendable, Equatable {
        /// The host does not know: L1 keeps the copy for the cache's default TTL (cachekit-py
        /// backfills its L1 for the decorator's ttl after a backend hit).
        case unknown
        case noExpiry
        case milliseconds(Int64)
        /// Serve it but keep no copy (a stale entry in its grace window).
        case notForL1
    }

    public let bytes: [UInt8]
    public let lifetime: Lifetime

    public init(bytes: [UInt8], lifetime: Lifetime) {
        self.bytes = bytes
        self.lifetime = lifetime
    }
}

/// The cache's `L2Store` over a host backend. What a host backend has no command for: it keeps
/// no server-side tracking set (whole-function invalidation deletes the keys this process knows,
/// as cachekit-py does for backends that are not key-trackable), has no pub/sub (nothing is
/// published: no receivers), and cannot list keys (namespace invalidation is refused).
public final class HostL2Store: L2Store {
    private let backend: any HostBackend
    /// What `Lifetime.unknown` becomes: the cache's default TTL in PTTL's terms.
    private let unknownLifetimeMilliseconds: Int64
    /// The cache's counters: each host call's latency, or its failure, as RedisL2 reports its round trips.
    private let stats: CacheStats?

    public init(backend: any HostBackend, defaultTTLSeconds: Int, stats: CacheStats? = nil) {
        self.backend = backend
        self.stats = stats
        let milliseconds = Int64(clamping: defaultTTLSeconds).multipliedReportingOverflow(by: 1000)
        unknownLifetimeMilliseconds = defaultTTLSeconds <= 0 ? -1 : (milliseconds.overflow ? Int64.max : milliseconds.partialValue)
    }

    /// One host call, timed for the stats.
    private func timed<R>(_ call: () throws(CachekitError) -> R) throws(CachekitError) -> R {
        let start = MonotonicClock.preciseNanoseconds()
        do throws(CachekitError) {
            let result = try call()
            stats?.recordL2Latency(Int(MonotonicClock.preciseNanoseconds() &- start))
            return result
        } catch {
            stats?.recordL2Error()
            throw error
        }
    }

    public func get(_ key: [UInt8]) throws(CachekitError) -> StoredValue? {
        guard let value = try timed({ () throws(CachekitError) in try backend.get(key) }) else { return nil }
        return StoredValue(bytes: value.bytes, ttlMilliseconds: nil)
    }

    public func getWithTTL(_ key: [UInt8]) throws(CachekitError) -> StoredValue? {
        guard let value = try timed({ () throws(CachekitError) in try backend.get(key) }) else { return nil }
        return StoredValue(bytes: value.bytes, ttlMilliseconds: pttl(value.lifetime))
    }

    /// PTTL's answer for a lifetime: -2 ("expired since the read") keeps a copy out of L1.
    private func pttl(_ lifetime: HostValue.Lifetime) -> Int64 {
        switch lifetime {
        case .unknown: return unknownLifetimeMilliseconds
        case .noExpiry: return -1
        case .milliseconds(let left): return max(left, 0)
        case .notForL1: return -2
        }
    }

    public func getMany(_ keys: [[UInt8]], withTTL: Bool) throws(CachekitError) -> [StoredValue?] {
        var values: [StoredValue?] = []
        values.reserveCapacity(keys.count)
        for key in keys { values.append(withTTL ? try getWithTTL(key) : try get(key)) }
        return values
    }

    public func set(_ key: [UInt8], _ value: UnsafeRawBufferPointer, ttlSeconds: Int) throws(CachekitError) {
        try timed { () throws(CachekitError) in try backend.set(key, value, ttlSeconds: ttlSeconds) }
    }

    /// The entry only: the tracking set lives in Redis, which a host backend is not.
    public func set(_ key: [UInt8], _ value: UnsafeRawBufferPointer, ttlSeconds: Int,
                    tracking member: UnsafeRawBufferPointer, in set: [UInt8], setTTLSeconds: Int) throws(CachekitError) {
        try self.set(key, value, ttlSeconds: ttlSeconds)
    }

    public func delete(_ keys: [[UInt8]]) throws(CachekitError) -> Int {
        var existed = 0
        for key in keys where try timed({ () throws(CachekitError) in try backend.delete(key) }) { existed &+= 1 }
        return existed
    }

    public func exists(_ key: [UInt8]) throws(CachekitError) -> Bool {
        try timed { () throws(CachekitError) in try backend.exists(key) }
    }

    public func deleteAll(withPrefix prefix: [UInt8]) throws(CachekitError) -> Int {
        throw CachekitError(.modeUnavailable, "namespace invalidation needs Redis: a host backend cannot list its keys")
    }

    /// Nothing to record: the cache's own index keeps the keys this process wrote.
    public func track(set: [UInt8], member: UnsafeRawBufferPointer, ttlSeconds: Int) throws(CachekitError) {}

    /// No tracking set to pop: the drain is complete at once, and the caller deletes its local keys.
    public func drain(set: [UInt8], keyPrefix: [UInt8], popped: ([UInt8]) -> Void) throws(CachekitError) -> Bool {
        true
    }

    public func unlink(_ keys: [[UInt8]]) throws(CachekitError) -> Int {
        try delete(keys)
    }

    /// No pub/sub: no process receives it.
    public func publish(channel: [UInt8], message: [UInt8]) throws(CachekitError) -> Int {
        0
    }

    /// One existence check of a probe key, timed: the host's round trip.
    public func ping() throws(CachekitError) -> Int {
        let start = MonotonicClock.preciseNanoseconds()
        _ = try backend.exists(Self.probeKey)
        return Int(MonotonicClock.preciseNanoseconds() &- start)
    }

    private static let probeKey = Array("cachekit:health:probe".utf8)

    public func remainingTTL(_ key: [UInt8]) throws(CachekitError) -> Int64 {
        guard let value = try timed({ () throws(CachekitError) in try backend.get(key) }) else { return -2 }
        switch value.lifetime {
        case .noExpiry: return -1
        case .milliseconds(let left): return max(left, 0)
        case .unknown, .notForL1:
            throw CachekitError(.modeUnavailable, "the host backend does not report how long its entries live")
        }
    }

    public var redactedDescription: String { "host backend" }
}
