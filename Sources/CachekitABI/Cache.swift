import CachekitCore
import CachekitRedis
import CCachekitHeader
import Glibc

// The cache section of include/cachekit.h: argument conversion and handle bookkeeping only.

@inline(__always)
private func configObject(_ handle: OpaquePointer?) throws(CachekitError) -> CacheConfig {
    try object(handle, as: CacheConfig.self, "config")
}

@inline(__always)
func cacheObject(_ handle: OpaquePointer?) throws(CachekitError) -> Cache {
    try object(handle, as: Cache.self, "cache")
}

/// Runs `body` with the cache borrowed from its handle (no reference counting on the hot path).
@inline(__always)
private func withCache(_ handle: OpaquePointer?, _ body: (Cache) throws(CachekitError) -> Status) throws(CachekitError) -> Status {
    try withObject(handle, as: Cache.self, "cache", body)
}

/// Exported to C as `cachekit_config_new`.
@_cdecl("cachekit_config_new") @implementation
public func cachekit_config_new(_ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        let out = try required(out, "out")
        try handOut(CacheConfig(), to: out)
        return .ok
    }
}

/// Exported to C as `cachekit_config_free`.
@_cdecl("cachekit_config_free") @implementation
public func cachekit_config_free(_ config: OpaquePointer?) {
    releaseHandle(config, as: CacheConfig.self, "config")
}

/// Exported to C as `cachekit_config_set`.
@_cdecl("cachekit_config_set") @implementation
public func cachekit_config_set(_ config: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ value: UnsafePointer<CChar>?) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        let object = try configObject(config)
        let optionName = try boundedUTF8(name, "name")
        if CacheConfig.secretOptionNames.contains(optionName) {
            // Read in place: a String of the value would be a copy of the secret nobody wipes.
            try object.setSecret(optionName, try boundedUTF8Bytes(value, "value"))
        } else {
            try object.set(optionName, try boundedUTF8(value, "value"))
        }
        return .ok
    }
}

/// Exported to C as `cachekit_config_load_env`.
@_cdecl("cachekit_config_load_env") @implementation
public func cachekit_config_load_env(_ config: OpaquePointer?) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        try configObject(config).loadEnvironment()
        return .ok
    }
}

/// Exported to C as `cachekit_cache_new`.
@_cdecl("cachekit_cache_new") @implementation
public func cachekit_cache_new(_ config: OpaquePointer?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        let out = try required(out, "out")
        let source: CacheConfig
        if let config {
            source = try configObject(config)
        } else {
            source = CacheConfig()
            try source.loadEnvironment()
        }
        let cache = try Cache.open(config: source)
        try handOut(cache, to: out)
        return .ok
    }
}

/// Exported to C as `cachekit_cache_free`.
@_cdecl("cachekit_cache_free") @implementation
public func cachekit_cache_free(_ cache: OpaquePointer?) {
    // The refresh thread is joined first: a refresh in progress ends before the handle goes.
    if let object = try? cacheObject(cache) { object.stopBackgroundWork() }
    releaseHandle(cache, as: Cache.self, "cache")
}

/// Exported to C as `cachekit_cache_get`.
@_cdecl("cachekit_cache_get") @implementation
public func cachekit_cache_get(_ cache: OpaquePointer?, _ key: UnsafePointer<UInt8>?, _ keyCount: Int,
                               _ out: UnsafeMutablePointer<cachekit_buffer>?) -> Int32 {
    read(cache, key, keyCount, out) { object, keyBytes throws(CachekitError) in try object.get(keyBytes) }
}

/// Exported to C as `cachekit_cache_get_local`.
@_cdecl("cachekit_cache_get_local") @implementation
public func cachekit_cache_get_local(_ cache: OpaquePointer?, _ key: UnsafePointer<UInt8>?, _ keyCount: Int,
                                     _ out: UnsafeMutablePointer<cachekit_buffer>?) -> Int32 {
    read(cache, key, keyCount, out) { object, keyBytes throws(CachekitError) in try object.getLocal(keyBytes) }
}

/// One key's read into a caller's buffer: CACHEKIT_OK with the value, or CACHEKIT_MISS.
private func read(
    _ cache: OpaquePointer?, _ key: UnsafePointer<UInt8>?, _ keyCount: Int, _ out: UnsafeMutablePointer<cachekit_buffer>?,
    _ lookup: (Cache, UnsafeRawBufferPointer) throws(CachekitError) -> OwnedBytes?
) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        try withCache(cache) { object throws(CachekitError) -> Status in
            let keyBytes = try inputBytes(key, keyCount, "key")
            let out = try required(out, "out")
            guard let value = try lookup(object, keyBytes) else { return .miss }
            deliver(value, to: out)
            return .ok
        }
    }
}

/// Exported to C as `cachekit_cache_set`.
@_cdecl("cachekit_cache_set") @implementation
public func cachekit_cache_set(_ cache: OpaquePointer?, _ key: UnsafePointer<UInt8>?, _ keyCount: Int,
                               _ value: UnsafePointer<UInt8>?, _ valueCount: Int, _ ttlSeconds: Int64) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        try withCache(cache) { object throws(CachekitError) -> Status in
            let keyBytes = try inputBytes(key, keyCount, "key")
            let valueBytes = try inputBytes(value, valueCount, "value")
            try object.set(keyBytes, valueBytes, ttlSeconds: try ttl(ttlSeconds))
            return .ok
        }
    }
}

/// Exported to C as `cachekit_cache_delete`.
@_cdecl("cachekit_cache_delete") @implementation
public func cachekit_cache_delete(_ cache: OpaquePointer?, _ key: UnsafePointer<UInt8>?, _ keyCount: Int) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        try cacheObject(cache).delete(try inputBytes(key, keyCount, "key"))
        return .ok
    }
}

/// Exported to C as `cachekit_cache_exists`.
@_cdecl("cachekit_cache_exists") @implementation
public func cachekit_cache_exists(_ cache: OpaquePointer?, _ key: UnsafePointer<UInt8>?, _ keyCount: Int) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        try withCache(cache) { object throws(CachekitError) -> Status in
            try object.exists(try inputBytes(key, keyCount, "key")) ? .ok : .miss
        }
    }
}

/// Exported to C as `cachekit_cache_get_many`.
@_cdecl("cachekit_cache_get_many") @implementation
public func cachekit_cache_get_many(_ cache: OpaquePointer?, _ keys: UnsafePointer<UnsafePointer<UInt8>?>?,
                                    _ keyCounts: UnsafePointer<Int>?, _ count: Int,
                                    _ values: UnsafeMutablePointer<cachekit_buffer>?,
                                    _ statuses: UnsafeMutablePointer<Int32>?) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        let object = try cacheObject(cache)
        guard try batchCount(count) > 0 else { return .ok }
        let keyBuffers = try keyList(keys, keyCounts, count: count, "keys", "key_lens", "keys[i]")
        let values = try required(values, "values")
        let statuses = try required(statuses, "statuses")
        for i in 0..<count {
            values[i] = cachekit_buffer(data: nil, len: 0)
            statuses[i] = Status.miss.rawValue
        }
        do throws(CachekitError) {
            try object.getMany(keyBuffers) { index, value in
                deliver(value, to: values + index)
                statuses[index] = Status.ok.rawValue
            }
        } catch {
            for i in 0..<count {
                free(values[i].data)
                values[i] = cachekit_buffer(data: nil, len: 0)
                statuses[i] = Status.miss.rawValue
            }
            throw error
        }
        return .ok
    }
}

/// Exported to C as `cachekit_cache_get_or_compute`. The C callback is called from a Swift
/// closure that captures only the function pointer and userdata.
@_cdecl("cachekit_cache_get_or_compute") @implementation
public func cachekit_cache_get_or_compute(_ cache: OpaquePointer?, _ key: UnsafePointer<UInt8>?, _ keyCount: Int,
                                          _ ttlSeconds: Int64, _ compute: cachekit_compute_fn?,
                                          _ userdata: UnsafeMutableRawPointer?,
                                          _ out: UnsafeMutablePointer<cachekit_buffer>?) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        let object = try cacheObject(cache)
        let keyBytes = try inputBytes(key, keyCount, "key")
        let compute = try required(compute, "compute")
        let out = try required(out, "out")
        let seconds = try ttl(ttlSeconds)
        var stale = false
        let value = try object.getOrCompute(keyBytes, ttlSeconds: seconds, servedStale: &stale) { () throws(CachekitError) -> [UInt8] in
            try callCompute(compute, userdata, keyBytes)
        }
        deliver(value, to: out)
        return stale ? .stale : .ok
    }
}

/// Runs a host's compute callback for `key` and copies out the value it produced.
func callCompute(_ compute: cachekit_compute_fn, _ userdata: UnsafeMutableRawPointer?,
                 _ key: UnsafeRawBufferPointer) throws(CachekitError) -> [UInt8] {
    var produced = cachekit_buffer(data: nil, len: 0)
    let rc = compute(userdata, key.baseAddress?.assumingMemoryBound(to: UInt8.self), key.count, &produced)
    defer { free(produced.data) }
    guard rc == 0 else {
        throw CachekitError(.computeFailed, "the compute callback returned \(rc)")
    }
    guard produced.len >= 0 else {
        throw CachekitError(.computeFailed, "the compute callback produced a buffer larger than the address space")
    }
    guard produced.data != nil || produced.len == 0 else {
        throw CachekitError(.computeFailed, "the compute callback produced a NULL buffer with a non-zero length")
    }
    return Array(UnsafeRawBufferPointer(start: produced.data, count: produced.len))
}

/// Exported to C as `cachekit_cache_invalidate_namespace`.
@_cdecl("cachekit_cache_invalidate_namespace") @implementation
public func cachekit_cache_invalidate_namespace(_ cache: OpaquePointer?, _ namespace: UnsafePointer<CChar>?,
                                                _ removed: UnsafeMutablePointer<UInt64>?) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        let object = try cacheObject(cache)
        let count = try object.invalidateNamespace(try boundedUTF8(namespace, "namespace"))
        removed?.pointee = UInt64(max(count, 0))
        return .ok
    }
}

/// Exported to C as `cachekit_cache_stats_get`.
@_cdecl("cachekit_cache_stats_get") @implementation
public func cachekit_cache_stats_get(_ cache: OpaquePointer?, _ out: UnsafeMutablePointer<cachekit_cache_stats>?) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        let s = try cacheObject(cache).statsSnapshot()
        let out = try required(out, "out")
        func u(_ v: Int) -> UInt64 { UInt64(max(v, 0)) }
        out.pointee = cachekit_cache_stats(
            hits: u(s.hits), misses: u(s.misses), l1_hits: u(s.l1Hits), l2_hits: u(s.l2Hits), sets: u(s.sets),
            deletes: u(s.deletes), evictions: u(s.evictions), errors: u(s.errors), l2_errors: u(s.l2Errors),
            l2_skipped: u(s.l2Skipped), computes: u(s.computes), coalesced: u(s.coalesced),
            decode_errors: u(s.decodeErrors), l1_entries: u(s.l1Entries), l1_bytes: u(s.l1Bytes),
            l2_operations: u(s.l2Operations), l2_latency_total_ns: u(s.l2LatencyTotalNanoseconds),
            l2_latency_max_ns: u(s.l2LatencyMaxNanoseconds))
        return .ok
    }
}

/// Exported to C as `cachekit_cache_health`.
@_cdecl("cachekit_cache_health") @implementation
public func cachekit_cache_health(_ cache: OpaquePointer?, _ out: UnsafeMutablePointer<cachekit_cache_health_report>?) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        let object = try cacheObject(cache)
        let out = try required(out, "out")
        let report = object.health()
        var health = cachekit_cache_health_report()
        health.l2_configured = report.l2Configured ? 1 : 0
        health.l2_status = report.l2Status.rawValue
        health.l2_ping_ns = UInt64(max(report.l2PingNanoseconds, 0))
        health.l1_entries = UInt64(max(report.l1Entries, 0))
        health.l1_bytes = UInt64(max(report.l1Bytes, 0))
        withUnsafeMutableBytes(of: &health.detail) { raw in
            let bytes = Array(report.detail.utf8.prefix(raw.count - 1))
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        out.pointee = health
        return .ok
    }
}

/// Exported to C as `cachekit_cache_listener_stats`.
@_cdecl("cachekit_cache_listener_stats") @implementation
public func cachekit_cache_listener_stats(_ cache: OpaquePointer?, _ out: UnsafeMutablePointer<cachekit_listener_stats>?) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        let counters = try cacheObject(cache).listenerCounters
        let out = try required(out, "out")
        func u(_ v: Int) -> UInt64 { UInt64(max(v, 0)) }
        out.pointee = cachekit_listener_stats(
            running: counters.running ? 1 : 0, subscribed: counters.subscribed ? 1 : 0, received: u(counters.received),
            applied: u(counters.applied), dropped: u(counters.dropped), resubscriptions: u(counters.resubscriptions))
        return .ok
    }
}

/// Exported to C as `cachekit_cache_redis_stats`.
@_cdecl("cachekit_cache_redis_stats") @implementation
public func cachekit_cache_redis_stats(_ cache: OpaquePointer?, _ out: UnsafeMutablePointer<cachekit_redis_stats>?) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        let object = try cacheObject(cache)
        let out = try required(out, "out")
        var stats = cachekit_redis_stats()
        if let tier = object.secondTier as? RedisL2 {
            func u(_ v: Int) -> UInt64 { UInt64(max(v, 0)) }
            let snapshot = tier.reliabilitySnapshot  // on Cluster: every node's, summed
            stats.configured = 1
            if let breaker = snapshot.breaker {
                switch breaker.state {
                case .closed: stats.breaker_state = CACHEKIT_BREAKER_CLOSED
                case .open: stats.breaker_state = CACHEKIT_BREAKER_OPEN
                case .halfOpen: stats.breaker_state = CACHEKIT_BREAKER_HALF_OPEN
                }
                stats.breaker_opened = u(breaker.opened)
                stats.breaker_half_opened = u(breaker.halfOpened)
                stats.breaker_closed = u(breaker.closed)
                stats.breaker_rejected = u(breaker.rejected)
                stats.breaker_failures = u(breaker.failures)
            } else {
                stats.breaker_state = CACHEKIT_BREAKER_OFF
            }
            let pool = snapshot.pool
            stats.pool_size = u(tier.client.settings.poolSize)
            stats.pool_in_use = u(pool.inUse)
            stats.pool_idle = u(pool.idle)
            stats.pool_peak_in_use = u(pool.peakInUse)
            stats.pool_waits = u(pool.waits)
            stats.pool_wait_total_ns = UInt64(max(pool.waitNanoseconds, 0))
            stats.pool_timeouts = u(pool.timeouts)
            stats.connections_opened = u(pool.opened)
            stats.connections_closed = u(pool.closed)
            stats.connections_abandoned = u(pool.abandoned)
            if let backpressure = snapshot.backpressure {
                stats.backpressure_in_flight = u(backpressure.inFlight)
                stats.backpressure_queued = u(backpressure.queueDepth)
                stats.backpressure_shed = u(backpressure.rejected)
            }
            let counters = tier.counterSnapshot
            stats.replies_refused = u(counters.repliesRefused)
            stats.sweeps_incomplete = u(counters.sweepsIncomplete)
            if let sentinel = tier.client.sentinel?.snapshot {
                stats.sentinel_discoveries = u(sentinel.discoveries)
                stats.sentinel_master_changes = u(sentinel.masterChanges)
            }
        }
        out.pointee = stats
        return .ok
    }
}

// MARK: Key registry

/// Exported to C as `cachekit_cache_track_key`.
@_cdecl("cachekit_cache_track_key") @implementation
public func cachekit_cache_track_key(_ cache: OpaquePointer?, _ registry: UnsafePointer<CChar>?,
                                     _ key: UnsafePointer<UInt8>?, _ keyCount: Int) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        try withCache(cache) { object throws(CachekitError) -> Status in
            try object.trackKey(registryId: try registryId(registry), key: try inputBytes(key, keyCount, "key")) ? .ok : .miss
        }
    }
}

/// Exported to C as `cachekit_cache_set_tracked`.
@_cdecl("cachekit_cache_set_tracked") @implementation
public func cachekit_cache_set_tracked(_ cache: OpaquePointer?, _ registry: UnsafePointer<CChar>?,
                                       _ key: UnsafePointer<UInt8>?, _ keyCount: Int,
                                       _ value: UnsafePointer<UInt8>?, _ valueCount: Int, _ ttlSeconds: Int64) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        try withCache(cache) { object throws(CachekitError) -> Status in
            let id = try registryId(registry)
            let keyBytes = try inputBytes(key, keyCount, "key")
            let valueBytes = try inputBytes(value, valueCount, "value")
            try object.setTracked(keyBytes, valueBytes, ttlSeconds: try ttl(ttlSeconds), registryId: id)
            return .ok
        }
    }
}

/// Exported to C as `cachekit_cache_drain_registry`.
@_cdecl("cachekit_cache_drain_registry") @implementation
public func cachekit_cache_drain_registry(_ cache: OpaquePointer?, _ registry: UnsafePointer<CChar>?,
                                          _ localKeys: UnsafePointer<UnsafePointer<UInt8>?>?,
                                          _ localKeyCounts: UnsafePointer<Int>?, _ count: Int,
                                          _ removed: UnsafeMutablePointer<UInt64>?) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        let object = try cacheObject(cache)
        let id = try registryId(registry)
        let keys = try keyList(localKeys, localKeyCounts, count: try batchCount(count),
                               "local_keys", "local_key_lens", "local_keys[i]")
        let reached = try object.drainRegistry(id, localKeys: keys)
        removed?.pointee = UInt64(max(reached, 0))
        return .ok
    }
}

/// Exported to C as `cachekit_cache_publish_invalidation`.
@_cdecl("cachekit_cache_publish_invalidation") @implementation
public func cachekit_cache_publish_invalidation(_ cache: OpaquePointer?, _ registry: UnsafePointer<CChar>?,
                                                _ key: UnsafePointer<UInt8>?, _ keyCount: Int) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        try withCache(cache) { object throws(CachekitError) -> Status in
            let id = try registryId(registry)
            let keyBytes: UnsafeRawBufferPointer? = key == nil && keyCount == 0 ? nil : try inputBytes(key, keyCount, "key")
            return try object.publishInvalidation(registryId: id, key: keyBytes) ? .ok : .miss
        }
    }
}
