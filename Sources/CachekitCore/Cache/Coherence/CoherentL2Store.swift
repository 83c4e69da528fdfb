/// The commands the fill lock and the sliding TTL need from a second tier, beside `L2Store`'s.
/// A store that lacks them (a host's own) still works: the cache then computes without the
/// cross-process lock and never slides a TTL. `RedisL2` implements them.
public protocol CoherentL2Store: L2Store {
    /// `SET key token NX PX milliseconds`: true when this caller now holds the lock.
    func acquireLock(_ key: [UInt8], token: [UInt8], milliseconds: Int) throws(CachekitError) -> Bool
    /// Deletes `key` only while it still holds `token` (redis-py's release script, so a lock
    /// that expired and was taken by another caller is never released by this one). True when
    /// this caller's lock was deleted.
    func releaseLock(_ key: [UInt8], token: [UInt8]) throws(CachekitError) -> Bool
    /// `EXPIRE key seconds`: true when the key exists (cachekit-py's refresh_ttl).
    func expire(_ key: [UInt8], seconds: Int) throws(CachekitError) -> Bool
}
