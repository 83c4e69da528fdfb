import CachekitCore

/// The fill lock's and the sliding TTL's commands, as cachekit-py 0.24.1 (through redis-py 8's
/// `Lock` and `RedisBackend.refresh_ttl`) sends them.
extension RedisL2: CoherentL2Store {
    /// `SET <lock> <token> NX PX <ms>`: OK when taken, nil when another holder has it.
    public func acquireLock(_ key: [UInt8], token: [UInt8], milliseconds: Int) throws(CachekitError) -> Bool {
        try run(key: key) { connection, deadline throws(CachekitError) -> Bool in
            let reply = try connection.call(["SET", .bytes(key), .bytes(token), "NX", "PX", .integer(Int64(milliseconds))],
                                            limits: .small, deadline: deadline)
            switch reply {
            case .simple: return true
            case .null: return false
            default: throw Self.unexpected(reply, "SET NX PX (fill lock)")
            }
        }
    }

    /// redis-py's `Script` call: EVALSHA of the release script; on NOSCRIPT (a server that has
    /// not cached it, or flushed its scripts) SCRIPT LOAD and EVALSHA again, pipelined.
    public func releaseLock(_ key: [UInt8], token: [UInt8]) throws(CachekitError) -> Bool {
        try run(key: key) { connection, deadline throws(CachekitError) -> Bool in
            let evalsha: [RedisArgument] = ["EVALSHA", .bytes(FillLock.releaseScriptSHA1), "1", .bytes(key), .bytes(token)]
            var reply = try connection.call(evalsha, limits: .small, deadline: deadline)
            if case .error(let text) = reply, text.starts(with: "NOSCRIPT") {
                let replies = try connection.pipeline([["SCRIPT", "LOAD", .bytes(FillLock.releaseScript)], evalsha],
                                                      limits: .small, deadline: deadline)
                guard replies.count == 2 else { throw Self.failure("EVALSHA (fill lock release)", "unexpected number of replies") }
                reply = replies[1]
            }
            return try Self.integer(reply, "EVALSHA (fill lock release)") == 1
        }
    }

    /// `EXPIRE key seconds` (cachekit-py's refresh_ttl): 1 when the key exists.
    public func expire(_ key: [UInt8], seconds: Int) throws(CachekitError) -> Bool {
        try run(key: key) { connection, deadline throws(CachekitError) -> Bool in
            try Self.integer(connection.call(["EXPIRE", .bytes(key), .integer(Int64(seconds))], limits: .small, deadline: deadline),
                             "EXPIRE") == 1
        }
    }
}
