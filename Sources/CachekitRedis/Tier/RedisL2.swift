import CachekitCore
import Glibc

/// The cache's second tier on Redis: every operation the cache calls, through one `RedisClient`
/// (bounded pool wait, breaker, backpressure, a deadline on every call), with each reply bounded
/// by what that command may legitimately return. Feeds the cache's counters: latency of each
/// successful round trip, failures, and calls the open breaker skipped. Thread-safe.
public final class RedisL2: L2Store {
    /// The one server's client; on Cluster the client of whichever node answers (the listener's).
    public let client: RedisClient
    /// Set for `redis+cluster://` URLs: commands go to the node of their key's slot.
    public let cluster: ClusterClient?
    let stats: CacheStats
    /// A GET reply: one value up to max_value_size, plus framing.
    private let valueLimits: ReplyLimits
    let maxValueSize: Int
    private let sweepMaxIterations: Int
    private let sweepTimeoutMilliseconds: Int
    /// Reliability counters kept here: sweeps stopped at a bound, replies refused as too large.
    private let counters = Locked(Counters())
    /// What to run once in a child of fork() (the listener's restart); the pool abandons
    /// inherited connections by itself.
    private let onFork = Locked<[@Sendable () -> Void]>([])
    private let owner = ProcessOwner()

    public struct Counters: Sendable, Equatable {
        public var sweepsIncomplete = 0
        public var repliesRefused = 0
    }

    /// The client, shared with every cache of the same Redis settings (RedisClientRegistry)
    /// unless the configuration opts out; letting go of it closes it when this was the last holder.
    public let clientLease: RedisClientLease

    public init(config: CacheConfig, url: RedisURL, stats: CacheStats) throws(CachekitError) {
        let settings = RedisClient.Settings(config: config, url: url)
        clientLease = config.redisClientShared
            ? try RedisClientRegistry.lease(url: url, settings: settings)
            : try RedisClientLease.unshared(url: url, settings: settings)
        client = clientLease.client
        cluster = clientLease.cluster
        self.stats = stats
        maxValueSize = config.maxValueSize
        valueLimits = .value(maxValueSize: config.maxValueSize)
        sweepMaxIterations = config.sweepMaxIterations
        sweepTimeoutMilliseconds = config.sweepTimeoutMilliseconds
    }

    public var redactedDescription: String { "Redis \(client.url.redactedDescription)" }
    public var counterSnapshot: Counters { counters.withLock { $0 } }

    /// The breaker and pool in a few words, first in the health report's detail.
    public var healthSummary: String {
        let snapshot = reliabilitySnapshot
        var parts: [String] = []
        if let breaker = snapshot.breaker {
            let name: String
            switch breaker.state {
            case .closed: name = "closed"
            case .open: name = "open"
            case .halfOpen: name = "half-open"
            }
            parts.append("breaker \(name)")
        }
        parts.append("pool \(snapshot.pool.inUse)/\(client.settings.poolSize) in use")
        if let master = client.sentinel?.snapshot.master { parts.append("master \(master)") }
        if let cluster = clusterHealthSummary { parts.append(cluster) }
        return parts.joined(separator: ", ")
    }

    /// Runs `action` in a forked child, on the child's first call through this tier.
    func whenForked(_ action: @escaping @Sendable () -> Void) {
        onFork.withLock { $0.append(action) }
    }

    /// One atomic load per call; in a child, the fork actions run once.
    private func noticeFork() {
        owner.resetIfForked {
            for action in onFork.withLock({ $0 }) { action() }
        }
    }

    /// The "which node" seam: a command about `key` runs where the key lives, on the one server
    /// or on the cluster node of the key's slot (following redirects). Every command of `body`
    /// must name keys of that one slot. `readOnly`: a replica may answer (read_from_replicas).
    func run<Result>(key: [UInt8], readOnly: Bool = false,
                     _ body: (RedisConnection, Deadline) throws(CachekitError) -> Result) throws(CachekitError) -> Result {
        try timed { () throws(CachekitError) -> Result in
            if let cluster { return try cluster.run(slot: ClusterSlot.of(key), readOnly: readOnly, body) }
            return try client.run(body)
        }
    }

    /// Runs one guarded call on the one server (on Cluster: on any node), timing it for the stats.
    func run<Result>(_ body: (RedisConnection, Deadline) throws(CachekitError) -> Result) throws(CachekitError) -> Result {
        try timed { () throws(CachekitError) -> Result in try client.run(body) }
    }

    /// Times `work` (one call, or one cluster call with its redirects) for the stats.
    func timed<Result>(_ work: () throws(CachekitError) -> Result) throws(CachekitError) -> Result {
        noticeFork()
        let start = MonotonicClock.preciseNanoseconds()
        do throws(CachekitError) {
            let result = try work()
            stats.recordL2Latency(Int(MonotonicClock.preciseNanoseconds() &- start))
            return result
        } catch {
            switch error.status {
            case .circuitOpen: stats.recordL2Skip()
            case .replyTooLarge:
                counters.withLock { $0.repliesRefused &+= 1 }
                stats.recordL2Error()
            default: stats.recordL2Error()
            }
            throw error
        }
    }

    // MARK: Replies

    static func failure(_ operation: String, _ text: String) -> CachekitError {
        CachekitError(.backendError, "Redis \(operation): \(text)")
    }

    /// A reply of a shape the command does not give: the server's error text, or a shape error.
    static func unexpected(_ reply: RedisValue, _ operation: String) -> CachekitError {
        if case .error(let text) = reply { return failure(operation, text) }
        return failure(operation, "unexpected reply")
    }

    /// A reply that must be an integer (an error reply is thrown).
    static func integer(_ reply: RedisValue, _ operation: String) throws(CachekitError) -> Int64 {
        guard case .integer(let value) = reply else { throw unexpected(reply, operation) }
        return value
    }

    /// A count Redis answered (DEL, UNLINK, PUBLISH): foreign data, so never negative and never
    /// a trap when converted.
    static func count(_ reply: RedisValue, _ operation: String) throws(CachekitError) -> Int {
        Int(clamping: max(try integer(reply, operation), 0))
    }

    /// A reply that must be a status such as OK.
    static func status(_ reply: RedisValue, _ operation: String) throws(CachekitError) {
        guard case .simple = reply else { throw unexpected(reply, operation) }
    }

    /// A GET's answer: the bytes, nil for a missing key. Internal so the fuzzer's replaying tier
    /// reads replies exactly as this one does.
    static func value(_ reply: RedisValue, _ operation: String) throws(CachekitError) -> [UInt8]? {
        switch reply {
        case .bulk(let bytes): return bytes
        case .null: return nil
        default: throw unexpected(reply, operation)
        }
    }

    /// A TTL in milliseconds from PTTL, nil when it is not an integer.
    static func ttl(_ reply: RedisValue) -> Int64? {
        if case .integer(let value) = reply { return value }
        return nil
    }

    static func setCommand(_ key: [UInt8], _ value: UnsafeRawBufferPointer, ttlSeconds: Int) -> [RedisArgument] {
        ttlSeconds > 0
            ? ["SETEX", .bytes(key), .integer(Int64(ttlSeconds)), .borrowed(value)]
            : ["SET", .bytes(key), .borrowed(value)]
    }

    // MARK: L2Store

    public func get(_ key: [UInt8]) throws(CachekitError) -> StoredValue? {
        try run(key: key, readOnly: true) { connection, deadline throws(CachekitError) -> StoredValue? in
            let reply = try connection.call(["GET", .bytes(key)], limits: valueLimits, deadline: deadline)
            return try Self.value(reply, "GET").map { StoredValue(bytes: $0, ttlMilliseconds: nil) }
        }
    }

    /// GET and PTTL in one round trip.
    public func getWithTTL(_ key: [UInt8]) throws(CachekitError) -> StoredValue? {
        try run(key: key, readOnly: true) { connection, deadline throws(CachekitError) -> StoredValue? in
            let replies = try connection.pipeline([["GET", .bytes(key)], ["PTTL", .bytes(key)]],
                                                  limits: valueLimits, deadline: deadline)
            guard replies.count == 2 else { throw Self.failure("GET", "unexpected number of replies") }
            return try Self.value(replies[0], "GET").map { StoredValue(bytes: $0, ttlMilliseconds: Self.ttl(replies[1])) }
        }
    }

    /// MGET (plus PTTL per key when `withTTL`), one round trip.
    public func getMany(_ keys: [[UInt8]], withTTL: Bool) throws(CachekitError) -> [StoredValue?] {
        guard !keys.isEmpty else { return [] }
        if cluster != nil { return try clusterGetMany(keys, withTTL: withTTL) }
        let limits = ReplyLimits.values(count: keys.count, maxValueSize: maxValueSize)
        return try run { connection, deadline throws(CachekitError) -> [StoredValue?] in
            var commands: [[RedisArgument]] = [["MGET"] + keys.map { .bytes($0) }]
            if withTTL { for key in keys { commands.append(["PTTL", .bytes(key)]) } }
            let replies = try connection.pipeline(commands, limits: limits, deadline: deadline)
            guard replies.count == commands.count else { throw Self.failure("MGET", "unexpected number of replies") }
            let values: [RedisValue]
            switch replies[0] {
            case .array(let elements) where elements.count == keys.count: values = elements
            default: throw Self.unexpected(replies[0], "MGET")
            }
            var out: [StoredValue?] = []
            out.reserveCapacity(keys.count)
            for (index, element) in values.enumerated() {
                guard case .bulk(let bytes) = element else { out.append(nil); continue }
                out.append(StoredValue(bytes: bytes, ttlMilliseconds: withTTL ? Self.ttl(replies[index &+ 1]) : nil))
            }
            return out
        }
    }

    /// SETEX when ttl > 0, else SET (as cachekit-py).
    public func set(_ key: [UInt8], _ value: UnsafeRawBufferPointer, ttlSeconds: Int) throws(CachekitError) {
        try run(key: key) { connection, deadline throws(CachekitError) in
            try Self.status(connection.call(Self.setCommand(key, value, ttlSeconds: ttlSeconds), limits: .small, deadline: deadline), "SET")
        }
    }

    /// SETEX/SET, then SADD of `member` to `set` and EXPIRE of the set, pipelined: a write and
    /// its key-registry record in one round trip. Every reply is read before an error is thrown.
    public func set(_ key: [UInt8], _ value: UnsafeRawBufferPointer, ttlSeconds: Int,
                    tracking member: UnsafeRawBufferPointer, in set: [UInt8], setTTLSeconds: Int) throws(CachekitError) {
        if cluster != nil {
            // The key and the registry's set hash to different slots: two commands, two nodes.
            try self.set(key, value, ttlSeconds: ttlSeconds)
            return try track(set: set, member: member, ttlSeconds: setTTLSeconds)
        }
        try run { connection, deadline throws(CachekitError) in
            let replies = try connection.pipeline([
                Self.setCommand(key, value, ttlSeconds: ttlSeconds),
                ["SADD", .bytes(set), .borrowed(member)],
                ["EXPIRE", .bytes(set), .integer(Int64(setTTLSeconds))],
            ], limits: .small, deadline: deadline)
            guard replies.count == 3 else { throw Self.failure("SET", "unexpected number of replies") }
            try Self.status(replies[0], "SET")
            _ = try Self.integer(replies[1], "SADD")
            _ = try Self.integer(replies[2], "EXPIRE")
        }
    }

    public func delete(_ keys: [[UInt8]]) throws(CachekitError) -> Int {
        guard !keys.isEmpty else { return 0 }
        if cluster != nil { return try clusterCount("DEL", keys) }
        return try run { connection, deadline throws(CachekitError) -> Int in
            let reply = try connection.call(["DEL"] + keys.map { .bytes($0) }, limits: .small, deadline: deadline)
            return try Self.count(reply, "DEL")
        }
    }

    public func exists(_ key: [UInt8]) throws(CachekitError) -> Bool {
        try run(key: key, readOnly: true) { connection, deadline throws(CachekitError) -> Bool in
            try Self.integer(connection.call(["EXISTS", .bytes(key)], limits: .small, deadline: deadline), "EXISTS") > 0
        }
    }

    /// The glob pattern matching every key that starts with `prefix` (glob characters escaped).
    static func pattern(forPrefix prefix: [UInt8]) -> [UInt8] {
        var pattern: [UInt8] = []
        for byte in prefix {
            if byte == UInt8(ascii: "*") || byte == UInt8(ascii: "?") || byte == UInt8(ascii: "[")
                || byte == UInt8(ascii: "]") || byte == UInt8(ascii: "\\") {
                pattern.append(UInt8(ascii: "\\"))
            }
            pattern.append(byte)
        }
        pattern.append(UInt8(ascii: "*"))
        return pattern
    }

    /// Stops a sweep that a server keeps going (a cursor that never returns to 0, a set that
    /// refills): at most `sweepMaxIterations` round trips and `sweepTimeoutMilliseconds`.
    struct SweepBound {
        let maxIterations: Int
        let deadline: Deadline
        var iterations = 0

        mutating func next() -> Bool {
            iterations &+= 1
            return iterations <= maxIterations && !deadline.hasPassed
        }
    }

    func newSweepBound() -> SweepBound {
        SweepBound(maxIterations: sweepMaxIterations, deadline: .after(milliseconds: sweepTimeoutMilliseconds))
    }

    func sweepStopped(_ what: String, _ bound: SweepBound, _ done: Int) -> CachekitError {
        counters.withLock { $0.sweepsIncomplete &+= 1 }
        return CachekitError(.sweepIncomplete,
            "\(what) stopped after \(bound.iterations &- 1) round trips and \(done) keys (sweep_max_iterations "
            + "\(sweepMaxIterations), sweep_timeout_ms \(sweepTimeoutMilliseconds)); the rest is left for the next sweep")
    }

    /// Deletes every key matching `prefix*` with SCAN + UNLINK in batches (never KEYS, which
    /// blocks the server). Returns how many; `.sweepIncomplete` when a bound stopped it.
    public func deleteAll(withPrefix prefix: [UInt8]) throws(CachekitError) -> Int {
        if cluster != nil { return try clusterDeleteAll(withPrefix: prefix) }
        let pattern = Self.pattern(forPrefix: prefix)
        var bound = newSweepBound()
        var cursor: [UInt8] = Array("0".utf8)
        var deleted = 0
        repeat {
            guard bound.next() else { throw sweepStopped("namespace sweep", bound, deleted) }
            deleted &+= try run { connection, deadline throws(CachekitError) -> Int in
                let reply = try connection.call(["SCAN", .bytes(cursor), "MATCH", .bytes(pattern), "COUNT", "1000"],
                                                limits: .scanPage, deadline: deadline)
                guard let page = Self.scanPage(reply) else { throw Self.unexpected(reply, "SCAN") }
                cursor = page.cursor
                guard !page.keys.isEmpty else { return 0 }
                let unlinked = try connection.call(["UNLINK"] + page.keys.map { .bytes($0) }, limits: .small, deadline: deadline)
                return try Self.count(unlinked, "UNLINK")
            }
        } while cursor != Array("0".utf8)
        return deleted
    }

    /// A SCAN reply's next cursor and the keys of its page (elements that are no bulk string
    /// are skipped); nil for any other shape. Apart from the call so the fuzzer can feed it.
    static func scanPage(_ reply: RedisValue) -> (cursor: [UInt8], keys: [[UInt8]])? {
        guard case .array(let parts) = reply, parts.count == 2,
              case .bulk(let next) = parts[0], case .array(let found) = parts[1] else { return nil }
        var keys: [[UInt8]] = []
        keys.reserveCapacity(found.count)
        for element in found { if case .bulk(let key) = element { keys.append(key) } }
        return (next, keys)
    }

    // MARK: Key registry (cachekit-py's KeyTrackableBackend)

    /// SADD the member and EXPIRE the set, pipelined: one round trip, as cachekit-py's track_key.
    public func track(set: [UInt8], member: UnsafeRawBufferPointer, ttlSeconds: Int) throws(CachekitError) {
        try run(key: set) { connection, deadline throws(CachekitError) in
            let replies = try connection.pipeline([["SADD", .bytes(set), .borrowed(member)],
                                                   ["EXPIRE", .bytes(set), .integer(Int64(ttlSeconds))]],
                                                  limits: .small, deadline: deadline)
            guard replies.count == 2 else { throw Self.failure("SADD", "unexpected number of replies") }
            _ = try Self.integer(replies[0], "SADD")
            _ = try Self.integer(replies[1], "EXPIRE")
        }
    }

    /// cachekit-py's drain script, verbatim: pops at most ARGV[2] members, unlinking
    /// ARGV[1] .. member before removing each, so a member never leaves before its key.
    static let drainScript = """

        redis.replicate_commands()
        local members = redis.call('SRANDMEMBER', KEYS[1], ARGV[2])
        for i = 1, #members do
            redis.call('UNLINK', ARGV[1] .. members[i])
            redis.call('SREM', KEYS[1], members[i])
        end
        return members

        """
    static let drainChunk = 10_000
    /// Members one drain hands to the cache at most: a server that keeps refilling the set
    /// cannot grow the caller's memory without bound.
    static let drainMaxMembers = 250_000

    /// Runs the drain script until a call pops a short chunk, handing each popped member to
    /// `popped`. Returns true when the set was emptied; `.sweepIncomplete` when a bound (round
    /// trips, time, `drainMaxMembers`) stopped it first: the rest waits for the next drain.
    public func drain(set: [UInt8], keyPrefix: [UInt8], popped: ([UInt8]) -> Void) throws(CachekitError) -> Bool {
        if cluster != nil { return try clusterDrain(set: set, keyPrefix: keyPrefix, popped: popped) }
        var bound = newSweepBound()
        var total = 0
        while true {
            guard bound.next(), total < Self.drainMaxMembers else { throw sweepStopped("key registry drain", bound, total) }
            let count = try run { connection, deadline throws(CachekitError) -> Int in
                let reply = try connection.call(["EVAL", .text(Self.drainScript), "1", .bytes(set), .bytes(keyPrefix),
                                                 .integer(Int64(Self.drainChunk))],
                                                limits: .scanPage, deadline: deadline)
                guard let chunk = Self.drainedMembers(reply) else { throw Self.unexpected(reply, "EVAL (key registry drain)") }
                for member in chunk.members { popped(member) }
                return chunk.count
            }
            total &+= count
            if count < Self.drainChunk { return true }
        }
    }

    /// The drain script's reply: its members that are bulk strings, and how many elements it had
    /// (a short chunk ends the drain); nil for any other shape.
    static func drainedMembers(_ reply: RedisValue) -> (members: [[UInt8]], count: Int)? {
        guard case .array(let elements) = reply else { return nil }
        var members: [[UInt8]] = []
        members.reserveCapacity(elements.count)
        for element in elements { if case .bulk(let bytes) = element { members.append(bytes) } }
        return (members, elements.count)
    }

    /// UNLINK in batches of `drainChunk` keys. Returns how many existed.
    public func unlink(_ keys: [[UInt8]]) throws(CachekitError) -> Int {
        if cluster != nil { return try clusterCount("UNLINK", keys) }
        var unlinked = 0
        var start = 0
        while start < keys.count {
            let end = min(start &+ Self.drainChunk, keys.count)
            let batch: [RedisArgument] = ["UNLINK"] + keys[start..<end].map { .bytes($0) }
            unlinked &+= try run { connection, deadline throws(CachekitError) -> Int in
                try Self.count(connection.call(batch, limits: .small, deadline: deadline), "UNLINK")
            }
            start = end
        }
        return unlinked
    }

    /// PUBLISH; returns how many subscribers received it.
    public func publish(channel: [UInt8], message: [UInt8]) throws(CachekitError) -> Int {
        // On Cluster any node broadcasts it to every node's subscribers; the channel's slot picks one.
        try run(key: channel) { connection, deadline throws(CachekitError) -> Int in
            let reply = try connection.call(["PUBLISH", .bytes(channel), .bytes(message)], limits: .small, deadline: deadline)
            return try Self.count(reply, "PUBLISH")
        }
    }

    /// PING round trip in nanoseconds.
    public func ping() throws(CachekitError) -> Int {
        if cluster != nil { return try clusterPing() }
        let start = MonotonicClock.preciseNanoseconds()
        try run { connection, deadline throws(CachekitError) in
            try Self.status(connection.call(["PING"], limits: .small, deadline: deadline), "PING")
        }
        return Int(MonotonicClock.preciseNanoseconds() &- start)
    }
}
