import CHiredis
import Glibc
import Synchronization

/// Command names, built once.
private enum Command {
    static let auth: [UInt8] = Array("AUTH".utf8)
    static let count: [UInt8] = Array("COUNT".utf8)
    static let del: [UInt8] = Array("DEL".utf8)
    static let eval: [UInt8] = Array("EVAL".utf8)
    static let expire: [UInt8] = Array("EXPIRE".utf8)
    static let exists: [UInt8] = Array("EXISTS".utf8)
    static let get: [UInt8] = Array("GET".utf8)
    static let match: [UInt8] = Array("MATCH".utf8)
    static let mget: [UInt8] = Array("MGET".utf8)
    static let ping: [UInt8] = Array("PING".utf8)
    static let pttl: [UInt8] = Array("PTTL".utf8)
    static let publish: [UInt8] = Array("PUBLISH".utf8)
    static let sadd: [UInt8] = Array("SADD".utf8)
    static let scan: [UInt8] = Array("SCAN".utf8)
    static let select: [UInt8] = Array("SELECT".utf8)
    static let set: [UInt8] = Array("SET".utf8)
    static let setex: [UInt8] = Array("SETEX".utf8)
    static let unlink: [UInt8] = Array("UNLINK".utf8)
}

/// One hiredis connection, used by one thread at a time (the pool hands it out).
final class RedisConnection: @unchecked Sendable {
    let context: UnsafeMutablePointer<redisContext>
    init(_ context: UnsafeMutablePointer<redisContext>) { self.context = context }
    deinit { redisFree(context) }

    var failed: Bool { context.pointee.err != 0 }

    /// The failure as a status: EAGAIN from a socket timeout is a timeout, the rest unavailability.
    func failure(_ operation: String) -> CachekitError {
        let text = withUnsafeBytes(of: context.pointee.errstr) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        if text.contains("temporarily unavailable") || text.contains("timed out") {
            return CachekitError(.backendTimeout, "Redis \(operation) timed out")
        }
        return CachekitError(.backendUnavailable, "Redis \(operation) failed: \(text)")
    }
}

/// A Redis reply, freed on deinit.
final class RedisReply {
    let pointer: UnsafeMutablePointer<redisReply>
    init(pointer: UnsafeMutablePointer<redisReply>) { self.pointer = pointer }
    deinit { freeReplyObject(pointer) }

    var type: Int32 { pointer.pointee.type }
    var isNil: Bool { type == REDIS_REPLY_NIL }
    var integer: Int64 { Int64(pointer.pointee.integer) }
    /// The string payload, copied while the reply is alive (a computed pointer would let the
    /// optimizer free the reply before the caller reads it).
    func copyBytes() -> [UInt8] {
        withExtendedLifetime(self) {
            guard let str = pointer.pointee.str else { return [] }
            return Array(UnsafeRawBufferPointer(start: str, count: pointer.pointee.len))
        }
    }
    var text: String { String(decoding: copyBytes(), as: UTF8.self) }
    /// The string payload in place: valid only while this reply is alive (StoredValue keeps it).
    var payload: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: pointer.pointee.str, count: pointer.pointee.len) }

    /// The reply as an error, if Redis answered with one (the text never holds our secrets).
    func errorIfAny(_ operation: String) -> CachekitError? {
        guard type == REDIS_REPLY_ERROR else { return nil }
        return CachekitError(.backendError, "Redis \(operation): \(text.prefix(200))")
    }
}

/// The Redis tier through hiredis: a pool of blocking connections with connect and command
/// timeouts, AUTH and SELECT from the URL, and a breaker that skips Redis for a while after
/// repeated failures so a dead or paused server costs one timeout, not one per call.
/// Connections that fail are dropped; the next call reconnects, so a restarted server is
/// picked up without intervention. Thread-safe.
public final class RedisL2: L2Store {
    let endpoint: RedisEndpoint
    public var redactedDescription: String { "Redis \(endpoint.redactedDescription)" }
    private let connectTimeout: timeval
    private let commandTimeout: timeval
    private let poolSize: Int
    private let failureThreshold: Int
    private let retryIntervalNanoseconds: Int64
    private let idle = Locked<[RedisConnection]>([])
    private let openConnections = Atomic<Int>(0)
    private let consecutiveFailures = Atomic<Int>(0)
    private let skipUntil = Atomic<Int64>(0)
    let stats: CacheStats

    public init(config: CacheConfig, endpoint: RedisEndpoint, stats: CacheStats) {
        self.endpoint = endpoint
        connectTimeout = Self.timeval(milliseconds: config.connectTimeoutMilliseconds)
        commandTimeout = Self.timeval(milliseconds: config.commandTimeoutMilliseconds)
        poolSize = config.poolSize
        failureThreshold = config.failureThreshold
        retryIntervalNanoseconds = Int64(config.retryIntervalMilliseconds) &* 1_000_000
        self.stats = stats
    }

    private static func timeval(milliseconds: Int) -> timeval {
        Glibc.timeval(tv_sec: milliseconds / 1000, tv_usec: (milliseconds % 1000) * 1000)
    }

    // MARK: Connections

    private func connect() throws(CachekitError) -> RedisConnection {
        let raw: UnsafeMutablePointer<redisContext>?
        if let path = endpoint.unixSocketPath {
            raw = redisConnectUnixWithTimeout(path, connectTimeout)
        } else {
            raw = redisConnectWithTimeout(endpoint.host, Int32(endpoint.port), connectTimeout)
        }
        guard let raw else { throw CachekitError(.outOfMemory, "could not allocate a Redis connection") }
        let connection = RedisConnection(raw)
        if connection.failed { throw connection.failure("connect to \(endpoint.redactedDescription)") }
        guard redisSetTimeout(raw, commandTimeout) == REDIS_OK else { throw connection.failure("set timeout") }
        // TCP keepalive, as cachekit-py's socket_keepalive default: a peer that vanished without a
        // FIN is noticed on idle pooled connections too.
        if endpoint.unixSocketPath == nil, redisEnableKeepAlive(raw) != REDIS_OK { throw connection.failure("set keepalive") }
        if let password = endpoint.password {
            var args: [[UInt8]] = [Command.auth]
            if let user = endpoint.username { args.append(Array(user.utf8)) }
            args.append(Array(password.utf8))
            let reply = try command(connection, args, "AUTH")
            if reply.type == REDIS_REPLY_ERROR {
                // Redis's own text (WRONGPASS/NOAUTH) never repeats the password.
                throw CachekitError(.backendError, "Redis AUTH refused: \(reply.text.prefix(120))")
            }
        }
        if endpoint.database != 0 {
            let reply = try command(connection, [Command.select, Array(String(endpoint.database).utf8)], "SELECT")
            if let error = reply.errorIfAny("SELECT") { throw error }
        }
        return connection
    }

    private func acquire() throws(CachekitError) -> (RedisConnection, reused: Bool) {
        if let connection = idle.withLock({ $0.popLast() }) { return (connection, true) }
        guard openConnections.add(1, ordering: .relaxed).newValue <= poolSize else {
            openConnections.subtract(1, ordering: .relaxed)
            throw CachekitError(.backendUnavailable, "all \(poolSize) Redis connections are busy")
        }
        do {
            return (try connect(), false)
        } catch {
            openConnections.subtract(1, ordering: .relaxed)
            throw error
        }
    }

    private func release(_ connection: RedisConnection) {
        if connection.failed {
            openConnections.subtract(1, ordering: .relaxed)
        } else {
            idle.withLock { $0.append(connection) }
        }
    }

    /// Runs `body` on a pooled connection, timing it and feeding the breaker. A stale pooled
    /// connection (the server restarted) is retried once on a fresh one.
    func run<R>(_ operation: String, _ body: (RedisConnection) throws(CachekitError) -> R) throws(CachekitError) -> R {
        let start = MonotonicClock.preciseNanoseconds()
        if start < skipUntil.load(ordering: .relaxed) {
            stats.recordL2Skip()
            throw CachekitError(.backendUnavailable, "Redis skipped after \(failureThreshold) consecutive failures; retrying shortly")
        }
        do throws(CachekitError) {
            var attempt = 0
            while true {
                let (connection, reused) = try acquire()
                do throws(CachekitError) {
                    let result = try body(connection)
                    release(connection)
                    consecutiveFailures.store(0, ordering: .relaxed)
                    stats.recordL2Latency(Int(MonotonicClock.preciseNanoseconds() &- start))
                    return result
                } catch {
                    release(connection)
                    attempt += 1
                    if reused, attempt == 1, error.status == .backendUnavailable { continue }
                    throw error
                }
            }
        } catch {
            if error.status != .backendError && error.status != .valueTooLarge {
                let failures = consecutiveFailures.add(1, ordering: .relaxed).newValue
                if failures >= failureThreshold {
                    skipUntil.store(MonotonicClock.preciseNanoseconds() &+ retryIntervalNanoseconds, ordering: .relaxed)
                }
            }
            stats.recordL2Error()
            throw error
        }
    }

    // MARK: Commands

    /// Builds hiredis's argv/argvlen over one contiguous copy of the arguments; `last`, when
    /// given, is appended as the final argument without an intermediate copy.
    private func withArgv<R>(_ args: [[UInt8]], last: UnsafeRawBufferPointer? = nil,
                             _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> R) throws(CachekitError) -> R {
        let count = args.count + (last == nil ? 0 : 1)
        var total = last?.count ?? 0
        for arg in args { total &+= arg.count }
        // malloc, not allocate: a value near the size limit must fail as a status, not a trap.
        guard let storage = malloc(max(total, 1)),
              let pointerMemory = malloc(count &* MemoryLayout<UnsafePointer<CChar>?>.stride),
              let lengthMemory = malloc(count &* MemoryLayout<Int>.stride) else {
            throw CachekitError(.outOfMemory, "could not allocate a Redis command of \(total) bytes")
        }
        let pointers = pointerMemory.bindMemory(to: UnsafePointer<CChar>?.self, capacity: count)
        let lengths = lengthMemory.bindMemory(to: Int.self, capacity: count)
        defer { free(storage); free(pointerMemory); free(lengthMemory) }
        var offset = 0
        func append(_ bytes: UnsafeRawBufferPointer, at i: Int) {
            if let base = bytes.baseAddress, bytes.count > 0 { (storage + offset).copyMemory(from: base, byteCount: bytes.count) }
            pointers[i] = UnsafePointer((storage + offset).assumingMemoryBound(to: CChar.self))
            lengths[i] = bytes.count
            offset &+= bytes.count
        }
        for (i, arg) in args.enumerated() { arg.withUnsafeBytes { append($0, at: i) } }
        if let last { append(last, at: args.count) }
        return body(Int32(clamping: count), pointers, lengths)
    }

    private func command(_ connection: RedisConnection, _ args: [[UInt8]], last: UnsafeRawBufferPointer? = nil,
                         _ operation: String) throws(CachekitError) -> RedisReply {
        let raw = try withArgv(args, last: last) { argc, argv, lengths in
            redisCommandArgv(connection.context, argc, argv, lengths)
        }
        guard let raw else { throw connection.failure(operation) }
        return RedisReply(pointer: raw.assumingMemoryBound(to: redisReply.self))
    }

    /// Pipelines several commands: one write, one round trip.
    private func pipeline(_ connection: RedisConnection, _ commands: [[[UInt8]]], _ operation: String) throws(CachekitError) -> [RedisReply] {
        for args in commands {
            let status = try withArgv(args) { argc, argv, lengths in
                redisAppendCommandArgv(connection.context, argc, argv, lengths)
            }
            guard status == REDIS_OK else { throw connection.failure(operation) }
        }
        var replies: [RedisReply] = []
        replies.reserveCapacity(commands.count)
        for _ in commands {
            var raw: UnsafeMutableRawPointer?
            guard redisGetReply(connection.context, &raw) == REDIS_OK, let raw else { throw connection.failure(operation) }
            replies.append(RedisReply(pointer: raw.assumingMemoryBound(to: redisReply.self)))
        }
        return replies
    }

    /// GET; nil when absent.
    public func get(_ key: [UInt8]) throws(CachekitError) -> StoredValue? {
        try run("GET") { connection throws(CachekitError) -> StoredValue? in
            let reply = try command(connection, [Command.get, key], "GET")
            if let error = reply.errorIfAny("GET") { throw error }
            if reply.isNil { return nil }
            guard reply.type == REDIS_REPLY_STRING, reply.pointer.pointee.str != nil || reply.pointer.pointee.len == 0 else {
                throw CachekitError(.backendError, "Redis GET: unexpected reply type")
            }
            return StoredValue(owner: reply, bytes: reply.payload, ttlMilliseconds: nil)
        }
    }

    /// GET and PTTL in one round trip: the value and its remaining lifetime in ms (nil: none).
    public func getWithTTL(_ key: [UInt8]) throws(CachekitError) -> StoredValue? {
        try run("GET") { connection throws(CachekitError) -> StoredValue? in
            let replies = try pipeline(connection, [[Command.get, key], [Command.pttl, key]], "GET")
            if let error = replies[0].errorIfAny("GET") { throw error }
            if replies[0].isNil { return nil }
            guard replies[0].type == REDIS_REPLY_STRING,
                  replies[0].pointer.pointee.str != nil || replies[0].pointer.pointee.len == 0 else {
                throw CachekitError(.backendError, "Redis GET: unexpected reply type")
            }
            let ttl: Int64? = replies[1].type == REDIS_REPLY_INTEGER ? replies[1].integer : nil
            return StoredValue(owner: replies[0], bytes: replies[0].payload, ttlMilliseconds: ttl)
        }
    }

    /// MGET (plus PTTL per key when `withTTL`), one round trip.
    public func getMany(_ keys: [[UInt8]], withTTL: Bool) throws(CachekitError) -> [StoredValue?] {
        guard !keys.isEmpty else { return [] }
        return try run("MGET") { connection throws(CachekitError) -> [StoredValue?] in
            var commands: [[[UInt8]]] = [[Command.mget] + keys]
            if withTTL { for key in keys { commands.append([Command.pttl, key]) } }
            let replies = try pipeline(connection, commands, "MGET")
            defer { withExtendedLifetime(replies) {} }
            if let error = replies[0].errorIfAny("MGET") { throw error }
            let array = replies[0].pointer.pointee
            guard array.type == REDIS_REPLY_ARRAY, array.elements == keys.count, let elements = array.element else {
                throw CachekitError(.backendError, "Redis MGET: unexpected reply")
            }
            var out: [StoredValue?] = []
            for i in 0..<keys.count {
                guard let element = elements[i], element.pointee.type == REDIS_REPLY_STRING,
                      element.pointee.str != nil || element.pointee.len == 0 else { out.append(nil); continue }
                var ttl: Int64?
                if withTTL, replies[i + 1].type == REDIS_REPLY_INTEGER { ttl = replies[i + 1].integer }
                out.append(StoredValue(owner: replies[0], bytes: UnsafeRawBufferPointer(start: element.pointee.str, count: element.pointee.len), ttlMilliseconds: ttl))
            }
            return out
        }
    }

    /// SETEX when ttl > 0, else SET (as cachekit-py).
    public func set(_ key: [UInt8], _ value: UnsafeRawBufferPointer, ttlSeconds: Int) throws(CachekitError) {
        try run("SET") { connection throws(CachekitError) in
            let args: [[UInt8]] = ttlSeconds > 0
                ? [Command.setex, key, Array(String(ttlSeconds).utf8)]
                : [Command.set, key]
            let reply = try command(connection, args, last: value, "SET")
            if let error = reply.errorIfAny("SET") { throw error }
        }
    }

    /// SETEX/SET, then SADD of `member` to `set` and EXPIRE of the set, pipelined: a write and
    /// its key-registry record in one round trip.
    public func set(_ key: [UInt8], _ value: UnsafeRawBufferPointer, ttlSeconds: Int,
             tracking member: UnsafeRawBufferPointer, in set: [UInt8], setTTLSeconds: Int) throws(CachekitError) {
        try run("SET") { connection throws(CachekitError) in
            let args: [[UInt8]] = ttlSeconds > 0
                ? [Command.setex, key, Array(String(ttlSeconds).utf8)]
                : [Command.set, key]
            let appended = try withArgv(args, last: value) { argc, argv, lengths in
                redisAppendCommandArgv(connection.context, argc, argv, lengths)
            }
            guard appended == REDIS_OK else { throw connection.failure("SET") }
            let tracking: [[[UInt8]]] = [[Command.sadd, set, Array(member)],
                                         [Command.expire, set, Array(String(setTTLSeconds).utf8)]]
            for trackArgs in tracking {
                let status = try withArgv(trackArgs) { argc, argv, lengths in
                    redisAppendCommandArgv(connection.context, argc, argv, lengths)
                }
                guard status == REDIS_OK else { throw connection.failure("SADD") }
            }
            var failure: CachekitError?
            for operation in ["SET", "SADD", "EXPIRE"] {
                var raw: UnsafeMutableRawPointer?
                guard redisGetReply(connection.context, &raw) == REDIS_OK, let raw else { throw connection.failure(operation) }
                let reply = RedisReply(pointer: raw.assumingMemoryBound(to: redisReply.self))
                if failure == nil { failure = reply.errorIfAny(operation) }  // read every reply first
            }
            if let failure { throw failure }
        }
    }

    /// DEL; returns how many keys existed.
    public func delete(_ keys: [[UInt8]]) throws(CachekitError) -> Int {
        guard !keys.isEmpty else { return 0 }
        return try run("DEL") { connection throws(CachekitError) -> Int in
            let reply = try command(connection, [Command.del] + keys, "DEL")
            if let error = reply.errorIfAny("DEL") { throw error }
            return Int(reply.integer)
        }
    }

    public func exists(_ key: [UInt8]) throws(CachekitError) -> Bool {
        try run("EXISTS") { connection throws(CachekitError) -> Bool in
            let reply = try command(connection, [Command.exists, key], "EXISTS")
            if let error = reply.errorIfAny("EXISTS") { throw error }
            return reply.integer > 0
        }
    }

    /// Deletes every key matching `prefix*` with SCAN + UNLINK in batches (never KEYS, which
    /// blocks the server). Glob characters in the prefix are escaped. Returns how many.
    public func deleteAll(withPrefix prefix: [UInt8]) throws(CachekitError) -> Int {
        var pattern: [UInt8] = []
        for byte in prefix {
            if byte == UInt8(ascii: "*") || byte == UInt8(ascii: "?") || byte == UInt8(ascii: "[")
                || byte == UInt8(ascii: "]") || byte == UInt8(ascii: "\\") {
                pattern.append(UInt8(ascii: "\\"))
            }
            pattern.append(byte)
        }
        pattern.append(UInt8(ascii: "*"))
        return try run("SCAN") { connection throws(CachekitError) -> Int in
            var cursor: [UInt8] = Array("0".utf8)
            var deleted = 0
            repeat {
                let reply = try command(connection, [Command.scan, cursor, Command.match, pattern,
                                                     Command.count, Array("1000".utf8)], "SCAN")
                defer { withExtendedLifetime(reply) {} }
                if let error = reply.errorIfAny("SCAN") { throw error }
                let top = reply.pointer.pointee
                guard top.type == REDIS_REPLY_ARRAY, top.elements == 2, let parts = top.element,
                      let next = parts[0], let keysReply = parts[1],
                      next.pointee.type == REDIS_REPLY_STRING, next.pointee.str != nil,
                      keysReply.pointee.type == REDIS_REPLY_ARRAY else {
                    throw CachekitError(.backendError, "Redis SCAN: unexpected reply")
                }
                cursor = Array(UnsafeRawBufferPointer(start: next.pointee.str, count: next.pointee.len))
                var keys: [[UInt8]] = [Command.unlink]
                if let elements = keysReply.pointee.element {
                    for i in 0..<keysReply.pointee.elements {
                        guard let element = elements[i], element.pointee.type == REDIS_REPLY_STRING,
                              element.pointee.str != nil else { continue }
                        keys.append(Array(UnsafeRawBufferPointer(start: element.pointee.str, count: element.pointee.len)))
                    }
                }
                if keys.count > 1 {
                    let unlinked = try command(connection, keys, "UNLINK")
                    if let error = unlinked.errorIfAny("UNLINK") { throw error }
                    deleted &+= max(Int(unlinked.integer), 0) // a reply is foreign data: no trap on overflow
                }
            } while cursor != Array("0".utf8)
            return deleted
        }
    }

    // MARK: Key registry (cachekit-py's KeyTrackableBackend)

    /// SADD the member and EXPIRE the set, pipelined: one round trip, as cachekit-py's track_key.
    public func track(set: [UInt8], member: UnsafeRawBufferPointer, ttlSeconds: Int) throws(CachekitError) {
        try run("SADD") { connection throws(CachekitError) in
            let replies = try pipeline(connection, [[Command.sadd, set, Array(member)],
                                                    [Command.expire, set, Array(String(ttlSeconds).utf8)]], "SADD")
            for reply in replies { if let error = reply.errorIfAny("SADD") { throw error } }
        }
    }

    /// cachekit-py's drain script, verbatim: pops at most ARGV[2] members, unlinking
    /// ARGV[1] .. member before removing each, so a member never leaves before its key.
    static let drainScript: [UInt8] = Array("""

        redis.replicate_commands()
        local members = redis.call('SRANDMEMBER', KEYS[1], ARGV[2])
        for i = 1, #members do
            redis.call('UNLINK', ARGV[1] .. members[i])
            redis.call('SREM', KEYS[1], members[i])
        end
        return members

        """.utf8)
    static let drainChunk = 10_000
    static let drainMaxRounds = 1_000

    /// Runs the drain script until a call pops a short chunk (at most `drainMaxRounds` calls),
    /// handing each popped member to `popped`. Returns whether the set was emptied (false: the
    /// round limit stopped it; the rest waits for the next drain).
    public func drain(set: [UInt8], keyPrefix: [UInt8], popped: ([UInt8]) -> Void) throws(CachekitError) -> Bool {
        let chunk = Array(String(Self.drainChunk).utf8)
        for _ in 0..<Self.drainMaxRounds {
            let count = try run("EVAL") { connection throws(CachekitError) -> Int in
                let reply = try command(connection, [Command.eval, Self.drainScript, Array("1".utf8), set, keyPrefix, chunk],
                                        "EVAL")
                defer { withExtendedLifetime(reply) {} }
                if let error = reply.errorIfAny("EVAL (key registry drain)") { throw error }
                let top = reply.pointer.pointee
                guard top.type == REDIS_REPLY_ARRAY else { throw CachekitError(.backendError, "Redis EVAL: unexpected reply") }
                if let elements = top.element {
                    for i in 0..<top.elements {
                        guard let element = elements[i], element.pointee.type == REDIS_REPLY_STRING,
                              element.pointee.str != nil || element.pointee.len == 0 else { continue }
                        popped(Array(UnsafeRawBufferPointer(start: element.pointee.str, count: element.pointee.len)))
                    }
                }
                return top.elements
            }
            if count < Self.drainChunk { return true }
        }
        return false
    }

    /// UNLINK in batches of `drainChunk` keys. Returns how many existed.
    public func unlink(_ keys: [[UInt8]]) throws(CachekitError) -> Int {
        var unlinked = 0
        var start = 0
        while start < keys.count {
            let end = min(start + Self.drainChunk, keys.count)
            unlinked &+= try run("UNLINK") { connection throws(CachekitError) -> Int in
                let reply = try command(connection, [Command.unlink] + keys[start..<end], "UNLINK")
                if let error = reply.errorIfAny("UNLINK") { throw error }
                return max(Int(reply.integer), 0)
            }
            start = end
        }
        return unlinked
    }

    /// PUBLISH; returns how many subscribers received it.
    public func publish(channel: [UInt8], message: [UInt8]) throws(CachekitError) -> Int {
        try run("PUBLISH") { connection throws(CachekitError) -> Int in
            let reply = try command(connection, [Command.publish, channel, message], "PUBLISH")
            if let error = reply.errorIfAny("PUBLISH") { throw error }
            return max(Int(reply.integer), 0)
        }
    }

    /// PING round trip in nanoseconds.
    public func ping() throws(CachekitError) -> Int {
        let start = MonotonicClock.preciseNanoseconds()
        try run("PING") { connection throws(CachekitError) in
            let reply = try command(connection, [Command.ping], "PING")
            if let error = reply.errorIfAny("PING") { throw error }
        }
        return Int(MonotonicClock.preciseNanoseconds() &- start)
    }
}
