/// The bulk operations for a store without pipelining (test doubles, hosts' stores): one call
/// per key. RedisL2 answers each in one round trip instead.
extension L2Store {
    public func setMany(_ entries: [(key: [UInt8], value: UnsafeRawBufferPointer)], ttlSeconds: Int) throws(CachekitError) {
        for entry in entries { try set(entry.key, entry.value, ttlSeconds: ttlSeconds) }
    }

    public func deleteEach(_ keys: [[UInt8]]) throws(CachekitError) -> [Bool] {
        var existed: [Bool] = []
        existed.reserveCapacity(keys.count)
        for key in keys { existed.append(try delete([key]) > 0) }
        return existed
    }

    public func remainingTTL(_ key: [UInt8]) throws(CachekitError) -> Int64 {
        guard let stored = try getWithTTL(key) else { return -2 }
        return stored.ttlMilliseconds ?? -1
    }
}
