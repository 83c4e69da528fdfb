import CachekitCore
import CCachekitHeader

// l1_tracking's counters (include/cachekit.h, after cachekit_cache_listener_stats).

/// Exported to C as `cachekit_cache_tracking_stats_get`.
@_cdecl("cachekit_cache_tracking_stats_get") @implementation
public func cachekit_cache_tracking_stats_get(_ cache: OpaquePointer?, _ out: UnsafeMutablePointer<cachekit_tracking_stats>?) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        let counters = try object(cache, as: Cache.self, "cache").trackingCounters
        let out = try required(out, "out")
        func u(_ v: Int) -> UInt64 { UInt64(max(v, 0)) }
        out.pointee = cachekit_tracking_stats(
            tracking: counters.tracking ? 1 : 0, invalidations: u(counters.invalidations), dropped: u(counters.dropped),
            own_writes_kept: u(counters.ownWritesKept), fills_skipped: u(counters.fillsSkipped),
            gap_flushes: u(counters.gapFlushes), server_flushes: u(counters.serverFlushes))
        return .ok
    }
}
