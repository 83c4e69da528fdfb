import CCachekitHeader
import CachekitCore
import CachekitRedis

/// Exported to C as `cachekit_cache_node_health_get`: `RedisL2.nodeHealth()` as text.
@_cdecl("cachekit_cache_node_health_get") @implementation
public func cachekit_cache_node_health_get(_ cache: OpaquePointer?, _ out: UnsafeMutablePointer<cachekit_buffer>?) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        let object = try object(cache, as: Cache.self, "cache")
        let out = try required(out, "out")
        guard let tier = object.secondTier as? RedisL2 else { return .miss }
        let text = Array(RedisNodeHealth.report(tier.nodeHealth(ping: true)).utf8)
        let bytes = try withBytes(text) { raw throws(CachekitError) in try OwnedBytes(copying: raw) }
        deliver(bytes, to: out)
        return .ok
    }
}
