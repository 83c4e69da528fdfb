import CachekitCore

/// The cache's bulk writes and TTL read on Redis: each batch is one pipeline, so one round trip
/// however many keys (cachekit_cache_set_many, cachekit_cache_delete_many, cachekit_cache_ttl).
extension RedisL2 {
    /// SETEX (or SET for no expiry) per entry, pipelined; every reply is read before a failure
    /// is thrown.
    public func setMany(_ entries: [(key: [UInt8], value: UnsafeRawBufferPointer)], ttlSeconds: Int) throws(CachekitError) {
        guard !entries.isEmpty else { return }
        if cluster != nil {  // CROSSSLOT: one pipeline per node
            let byKey = Dictionary(entries.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last })
            for reply in try clusterReplies("SET", entries.map(\.key), { key in
                Self.setCommand(key, byKey[key] ?? UnsafeRawBufferPointer(start: nil, count: 0), ttlSeconds: ttlSeconds)  // every key is in byKey
            }) {
                try Self.status(reply, "SET")
            }
            return
        }
        try run { connection, deadline throws(CachekitError) in
            let commands = entries.map { Self.setCommand($0.key, $0.value, ttlSeconds: ttlSeconds) }
            let replies = try connection.pipeline(commands, limits: .small, deadline: deadline)
            guard replies.count == commands.count else { throw Self.failure("SET", "unexpected number of replies") }
            for reply in replies { try Self.status(reply, "SET") }
        }
    }

    /// One DEL per key, pipelined, so each key's count says whether it existed (one multi-key
    /// DEL answers only the total).
    public func deleteEach(_ keys: [[UInt8]]) throws(CachekitError) -> [Bool] {
        guard !keys.isEmpty else { return [] }
        if cluster != nil {  // CROSSSLOT: one pipeline per node
            var existed: [Bool] = []
            existed.reserveCapacity(keys.count)
            for reply in try clusterReplies("DEL", keys, { ["DEL", .bytes($0)] }) {
                existed.append(try Self.count(reply, "DEL") > 0)
            }
            return existed
        }
        return try run { connection, deadline throws(CachekitError) -> [Bool] in
            let replies = try connection.pipeline(keys.map { ["DEL", .bytes($0)] }, limits: .small, deadline: deadline)
            guard replies.count == keys.count else { throw Self.failure("DEL", "unexpected number of replies") }
            var existed: [Bool] = []
            existed.reserveCapacity(keys.count)
            for reply in replies { existed.append(try Self.count(reply, "DEL") > 0) }
            return existed
        }
    }

    /// PTTL: milliseconds left, -1 for no expiry, -2 for an absent key.
    public func remainingTTL(_ key: [UInt8]) throws(CachekitError) -> Int64 {
        try run(key: key, readOnly: true) { connection, deadline throws(CachekitError) -> Int64 in
            try Self.integer(connection.call(["PTTL", .bytes(key)], limits: .small, deadline: deadline), "PTTL")
        }
    }
}
