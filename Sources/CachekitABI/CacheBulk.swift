import CachekitCore
import CCachekitHeader

// The bulk writes and the TTL read of include/cachekit.h: argument conversion only.

/// Writes each key's status and returns the call's: the first failure, thrown so that
/// cachekit_last_error_message describes it.
private func finish(_ outcome: Cache.BulkOutcome, into statuses: UnsafeMutablePointer<Int32>) throws(CachekitError) -> Status {
    for (index, status) in outcome.statuses.enumerated() { statuses[index] = status.rawValue }
    if let failure = outcome.firstFailure { throw failure }
    return .ok
}

/// Exported to C as `cachekit_cache_set_many`.
@_cdecl("cachekit_cache_set_many") @implementation
public func cachekit_cache_set_many(_ cache: OpaquePointer?, _ keys: UnsafePointer<UnsafePointer<UInt8>?>?,
                                    _ keyCounts: UnsafePointer<Int>?, _ values: UnsafePointer<UnsafePointer<UInt8>?>?,
                                    _ valueCounts: UnsafePointer<Int>?, _ count: Int, _ ttlSeconds: Int64,
                                    _ statuses: UnsafeMutablePointer<Int32>?) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        try withObject(cache, as: Cache.self, "cache") { object throws(CachekitError) -> Status in
            let seconds = try ttl(ttlSeconds)
            guard try batchCount(count) > 0 else { return .ok }
            let keyBuffers = try keyList(keys, keyCounts, count: count, "keys", "key_lens", "keys[i]")
            let valueBuffers = try keyList(values, valueCounts, count: count, "values", "value_lens", "values[i]")
            let statuses = try required(statuses, "statuses")
            return try finish(try object.setMany(keyBuffers, valueBuffers, ttlSeconds: seconds), into: statuses)
        }
    }
}

/// Exported to C as `cachekit_cache_delete_many`.
@_cdecl("cachekit_cache_delete_many") @implementation
public func cachekit_cache_delete_many(_ cache: OpaquePointer?, _ keys: UnsafePointer<UnsafePointer<UInt8>?>?,
                                       _ keyCounts: UnsafePointer<Int>?, _ count: Int,
                                       _ statuses: UnsafeMutablePointer<Int32>?) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        try withObject(cache, as: Cache.self, "cache") { object throws(CachekitError) -> Status in
            guard try batchCount(count) > 0 else { return .ok }
            let keyBuffers = try keyList(keys, keyCounts, count: count, "keys", "key_lens", "keys[i]")
            let statuses = try required(statuses, "statuses")
            return try finish(object.deleteMany(keyBuffers), into: statuses)
        }
    }
}

/// Exported to C as `cachekit_cache_ttl`.
@_cdecl("cachekit_cache_ttl") @implementation
public func cachekit_cache_ttl(_ cache: OpaquePointer?, _ key: UnsafePointer<UInt8>?, _ keyCount: Int,
                               _ ttlSeconds: UnsafeMutablePointer<Int64>?) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        try withObject(cache, as: Cache.self, "cache") { object throws(CachekitError) -> Status in
            let keyBytes = try inputBytes(key, keyCount, "key")
            let out = try required(ttlSeconds, "ttl_seconds")
            guard let seconds = try object.remainingTTLSeconds(keyBytes) else { return .miss }
            out.pointee = seconds
            return .ok
        }
    }
}
