import CachekitCore
import CCachekitHeader
import Glibc

// The coherence section of include/cachekit.h: the fill lock for hosts that compute
// themselves, the refresh-ahead callback, the coherence counters.

/// Exported to C as `cachekit_cache_fill_lock_settings_get`.
@_cdecl("cachekit_cache_fill_lock_settings_get") @implementation
public func cachekit_cache_fill_lock_settings_get(_ cache: OpaquePointer?,
                                                  _ out: UnsafeMutablePointer<cachekit_fill_lock_settings>?) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        let object = try cacheObject(cache)
        let out = try required(out, "out")
        let lock = object.coherenceOptions.fillLock
        out.pointee = cachekit_fill_lock_settings(applies: object.fillLockApplies ? 1 : 0,
                                                  timeout_ms: UInt64(max(lock.holdMilliseconds, 0)),
                                                  wait_ms: UInt64(max(lock.waitMilliseconds, 0)),
                                                  poll_ms: UInt64(max(lock.pollMilliseconds, 0)))
        return .ok
    }
}

/// The arguments of the lock calls read once: the cache, the key and the token; `body`'s answer
/// goes to `flag` (required for the attempt, optional for the release).
private func lockCall(_ cache: OpaquePointer?, _ key: UnsafePointer<UInt8>?, _ keyCount: Int, _ token: UnsafePointer<CChar>?,
                      _ flag: UnsafeMutablePointer<Int32>?, flagRequired: Bool,
                      _ body: (Cache, UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws(CachekitError) -> Bool) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        let object = try cacheObject(cache)
        let keyBytes = try inputBytes(key, keyCount, "key")
        let tokenBytes = try boundedUTF8Bytes(token, "token")
        if flagRequired { _ = try required(flag, "acquired") }
        let answer = try body(object, keyBytes, tokenBytes)
        flag?.pointee = answer ? 1 : 0
        return .ok
    }
}

/// Exported to C as `cachekit_cache_fill_lock_try`.
@_cdecl("cachekit_cache_fill_lock_try") @implementation
public func cachekit_cache_fill_lock_try(_ cache: OpaquePointer?, _ key: UnsafePointer<UInt8>?, _ keyCount: Int,
                                         _ token: UnsafePointer<CChar>?, _ acquired: UnsafeMutablePointer<Int32>?) -> Int32 {
    lockCall(cache, key, keyCount, token, acquired, flagRequired: true) { object, keyBytes, tokenBytes throws(CachekitError) in
        try object.tryFillLock(keyBytes, token: tokenBytes)
    }
}

/// Exported to C as `cachekit_cache_fill_lock_read`.
@_cdecl("cachekit_cache_fill_lock_read") @implementation
public func cachekit_cache_fill_lock_read(_ cache: OpaquePointer?, _ key: UnsafePointer<UInt8>?, _ keyCount: Int,
                                          _ out: UnsafeMutablePointer<cachekit_buffer>?) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        let object = try cacheObject(cache)
        let keyBytes = try inputBytes(key, keyCount, "key")
        let out = try required(out, "out")
        guard let value = try object.readForFill(keyBytes) else { return .miss }
        deliver(value, to: out)
        return .ok
    }
}

/// Exported to C as `cachekit_cache_fill_lock_release`.
@_cdecl("cachekit_cache_fill_lock_release") @implementation
public func cachekit_cache_fill_lock_release(_ cache: OpaquePointer?, _ key: UnsafePointer<UInt8>?, _ keyCount: Int,
                                             _ token: UnsafePointer<CChar>?, _ released: UnsafeMutablePointer<Int32>?) -> Int32 {
    lockCall(cache, key, keyCount, token, released, flagRequired: false) { object, keyBytes, tokenBytes throws(CachekitError) in
        try object.releaseFillLock(keyBytes, token: tokenBytes)
    }
}

/// A host's refresh callback and its userdata, which the host keeps valid until the refresher is
/// replaced or the cache freed (both wait for a refresh in progress).
private struct HostRefresher: @unchecked Sendable {
    let refresh: cachekit_compute_fn
    let userdata: UnsafeMutableRawPointer?
}

/// Exported to C as `cachekit_cache_refresher_set`.
@_cdecl("cachekit_cache_refresher_set") @implementation
public func cachekit_cache_refresher_set(_ cache: OpaquePointer?, _ refresh: cachekit_compute_fn?,
                                         _ userdata: UnsafeMutableRawPointer?) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        let object = try cacheObject(cache)
        guard let refresh else {
            object.setRefresher(nil)
            return .ok
        }
        let host = HostRefresher(refresh: refresh, userdata: userdata)
        object.setRefresher { key throws(CachekitError) -> [UInt8] in try callCompute(host.refresh, host.userdata, key) }
        return .ok
    }
}

/// Exported to C as `cachekit_cache_refresh_due`.
@_cdecl("cachekit_cache_refresh_due") @implementation
public func cachekit_cache_refresh_due(_ cache: OpaquePointer?, _ key: UnsafePointer<UInt8>?, _ keyCount: Int,
                                       _ due: UnsafeMutablePointer<Int32>?) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        let object = try cacheObject(cache)
        let keyBytes = try inputBytes(key, keyCount, "key")
        let due = try required(due, "due")
        due.pointee = object.takeRefreshIfDue(keyBytes) ? 1 : 0
        return .ok
    }
}

/// Exported to C as `cachekit_cache_refresh_release`.
@_cdecl("cachekit_cache_refresh_release") @implementation
public func cachekit_cache_refresh_release(_ cache: OpaquePointer?, _ key: UnsafePointer<UInt8>?, _ keyCount: Int) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        let object = try cacheObject(cache)
        let keyBytes = try inputBytes(key, keyCount, "key")
        object.giveBackRefresh(keyBytes)
        return .ok
    }
}

/// Exported to C as `cachekit_cache_coherence_stats_get`.
@_cdecl("cachekit_cache_coherence_stats_get") @implementation
public func cachekit_cache_coherence_stats_get(_ cache: OpaquePointer?,
                                               _ out: UnsafeMutablePointer<cachekit_coherence_stats>?) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        let s = try cacheObject(cache).statsSnapshot()
        let out = try required(out, "out")
        func u(_ v: Int) -> UInt64 { UInt64(max(v, 0)) }
        out.pointee = cachekit_coherence_stats(
            fill_lock_waits: u(s.fillLockWaits), fill_lock_reads: u(s.fillLockReads),
            fill_lock_timeouts: u(s.fillLockTimeouts), fill_lock_expired: u(s.fillLockExpired),
            ttl_refreshes: u(s.ttlRefreshes), stale_served: u(s.staleServed),
            refreshes_ahead: u(s.refreshesAhead), refresh_ahead_failures: u(s.refreshAheadFailures),
            decrypt_wrong_key_l1: u(s.decryptWrongKeyL1), decrypt_wrong_key_l2: u(s.decryptWrongKeyL2),
            decrypt_tampered_l1: u(s.decryptTamperedL1), decrypt_tampered_l2: u(s.decryptTamperedL2),
            decrypt_unknown_fingerprint_l1: u(s.decryptUnknownFingerprintL1),
            decrypt_unknown_fingerprint_l2: u(s.decryptUnknownFingerprintL2))
        return .ok
    }
}
