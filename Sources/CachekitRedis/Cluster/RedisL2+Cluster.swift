import CachekitCore

/// The operations that touch several keys, as they run on a Redis Cluster: no command may name
/// keys of two slots there (CROSSSLOT), so keys are split by node and pipelined per node, and
/// the key registry drains without its cross-slot script.
extension RedisL2 {
    private var clusterClient: ClusterClient {
        get throws(CachekitError) {
            guard let cluster else { throw CachekitError(.internal, "a cluster operation on a single Redis") }
            return cluster
        }
    }

    /// GET (and PTTL) per key, one pipeline per node.
    func clusterGetMany(_ keys: [[UInt8]], withTTL: Bool) throws(CachekitError) -> [StoredValue?] {
        let cluster = try clusterClient
        let limits = ReplyLimits.value(maxValueSize: maxValueSize)
        let replies = try timed { () throws(CachekitError) -> [[RedisValue]] in
            try cluster.pipelinedPerKey(keys, readOnly: true, limits: limits) { key in
                withTTL ? [["GET", .bytes(key)], ["PTTL", .bytes(key)]] : [["GET", .bytes(key)]]
            }
        }
        var out: [StoredValue?] = []
        out.reserveCapacity(keys.count)
        for keyReplies in replies {
            guard let first = keyReplies.first else { throw Self.failure("GET", "unexpected number of replies") }
            let ttl = withTTL && keyReplies.count > 1 ? Self.ttl(keyReplies[1]) : nil
            out.append(try Self.value(first, "GET").map { StoredValue(bytes: $0, ttlMilliseconds: ttl) })
        }
        return out
    }

    /// One write command per key (`command(key)`), one pipeline per node: each key's reply, in order.
    func clusterReplies(_ name: String, _ keys: [[UInt8]],
                        _ command: ([UInt8]) -> [RedisArgument]) throws(CachekitError) -> [RedisValue] {
        let cluster = try clusterClient
        let replies = try timed { () throws(CachekitError) -> [[RedisValue]] in
            try cluster.pipelinedPerKey(keys, readOnly: false, limits: .small) { key in [command(key)] }
        }
        var out: [RedisValue] = []
        out.reserveCapacity(replies.count)
        for keyReplies in replies {
            guard let reply = keyReplies.first else { throw Self.failure(name, "unexpected number of replies") }
            out.append(reply)
        }
        return out
    }

    /// `command key` (DEL, UNLINK) per key, one pipeline per node; returns how many existed.
    func clusterCount(_ command: String, _ keys: [[UInt8]]) throws(CachekitError) -> Int {
        guard !keys.isEmpty else { return 0 }
        var total = 0
        for reply in try clusterReplies(command, keys, { [.text(command), .bytes($0)] }) {
            total &+= try Self.count(reply, command)
        }
        return total
    }

    /// SCAN every primary (a replica holds copies of the same keys), UNLINKing each page by
    /// slot; the sweep bounds count the round trips of all nodes together.
    func clusterDeleteAll(withPrefix prefix: [UInt8]) throws(CachekitError) -> Int {
        let cluster = try clusterClient
        let pattern = Self.pattern(forPrefix: prefix)
        var bound = newSweepBound()
        var deleted = 0
        for node in try cluster.primaries() {
            var cursor: [UInt8] = Array("0".utf8)
            repeat {
                guard bound.next() else { throw sweepStopped("namespace sweep", bound, deleted) }
                let keys = try timed { () throws(CachekitError) -> [[UInt8]] in
                    try cluster.run(node: node) { connection, deadline throws(CachekitError) -> [[UInt8]] in
                        let reply = try connection.call(["SCAN", .bytes(cursor), "MATCH", .bytes(pattern), "COUNT", "1000"],
                                                        limits: .scanPage, deadline: deadline)
                        guard let page = Self.scanPage(reply) else { throw Self.unexpected(reply, "SCAN") }
                        cursor = page.cursor
                        return page.keys
                    }
                }
                deleted &+= try clusterCount("UNLINK", keys)
            } while cursor != Array("0".utf8)
        }
        return deleted
    }

    /// The drain script's steps without the script (its keys live in other slots than the set):
    /// SRANDMEMBER a chunk on the set's node, UNLINK each member's key on its own node, then
    /// SREM the chunk. A member still never leaves before its key, but the steps are not one
    /// atomic unit: a key written again between its UNLINK and the SREM stays, untracked,
    /// until its TTL.
    func clusterDrain(set: [UInt8], keyPrefix: [UInt8], popped: ([UInt8]) -> Void) throws(CachekitError) -> Bool {
        var bound = newSweepBound()
        var total = 0
        while true {
            guard bound.next(), total < Self.drainMaxMembers else { throw sweepStopped("key registry drain", bound, total) }
            let members = try run(key: set) { connection, deadline throws(CachekitError) -> [[UInt8]] in
                let reply = try connection.call(["SRANDMEMBER", .bytes(set), .integer(Int64(Self.drainChunk))],
                                                limits: .scanPage, deadline: deadline)
                guard let chunk = Self.drainedMembers(reply) else { throw Self.unexpected(reply, "SRANDMEMBER (key registry drain)") }
                return chunk.members
            }
            guard !members.isEmpty else { return true }
            _ = try clusterCount("UNLINK", members.map { keyPrefix + $0 })
            try run(key: set) { connection, deadline throws(CachekitError) in
                let reply = try connection.call(["SREM", .bytes(set)] + members.map { .bytes($0) }, limits: .small, deadline: deadline)
                _ = try Self.integer(reply, "SREM")
            }
            for member in members { popped(member) }
            total &+= members.count
            if members.count < Self.drainChunk { return true }
        }
    }

    /// A PING to every primary; the round trips' sum in nanoseconds. Any failure throws.
    func clusterPing() throws(CachekitError) -> Int {
        let cluster = try clusterClient
        let start = MonotonicClock.preciseNanoseconds()
        for node in try cluster.primaries() {
            try timed { () throws(CachekitError) in
                try cluster.run(node: node) { connection, deadline throws(CachekitError) in
                    try Self.status(connection.call(["PING"], limits: .small, deadline: deadline), "PING")
                }
            }
        }
        return Int(MonotonicClock.preciseNanoseconds() &- start)
    }

    /// Each node's health: every node of the cluster's slot map, or the one server. With `ping`,
    /// each node answers a PING through its own pool (a failure is reported, not thrown).
    public func nodeHealth(ping: Bool = true) -> [RedisNodeHealth] {
        if let cluster { return cluster.nodeHealth(ping: ping) }
        var health = RedisNodeHealth(address: serverAddress, isPrimary: true, slots: ClusterSlot.count)
        if ping { health.ping(client) }
        health.reliability = client.snapshot
        return [health]
    }

    /// Where the one server is: host:port, the socket path, or the master Sentinel last named.
    private var serverAddress: String {
        switch client.url.target {
        case .tcp(let node): return node.description
        case .unix(let path): return "unix:\(escapedForMessage(path))"
        case .sentinel(_, let service):
            return client.sentinel?.snapshot.master?.description ?? "sentinel:\(escapedForMessage(service))"
        case .cluster(let seeds): return seeds.first?.description ?? "cluster"
        }
    }

    /// The cluster's part of the health summary: nodes, primaries, slots served, open breakers.
    var clusterHealthSummary: String? {
        guard let cluster else { return nil }
        let nodes = cluster.nodeHealth(ping: false)
        let primaries = nodes.filter(\.isPrimary)
        let served = primaries.reduce(0) { $0 &+ $1.slots }
        let open = nodes.filter { $0.reliability?.breaker?.state == .open }.map(\.address)
        var text = "cluster \(primaries.count) primaries, \(nodes.count &- primaries.count) replicas, \(served)/\(ClusterSlot.count) slots"
        if !open.isEmpty { text += ", breaker open for \(open.joined(separator: " "))" }
        return text
    }
}

extension RedisL2 {
    /// The breaker, pool and backpressure for the stats: the one client's, or on Cluster every
    /// node's summed (the breaker state is the worst node's: open, then half-open, then closed).
    public var reliabilitySnapshot: ReliabilitySnapshot {
        guard let cluster else { return client.snapshot }
        return cluster.nodeHealth(ping: false).compactMap(\.reliability).reduce(client.snapshot) { $0.adding($1) }
    }
}

extension ReliabilitySnapshot {
    func adding(_ other: ReliabilitySnapshot) -> ReliabilitySnapshot {
        var sum = self
        Self.add(&sum.pool, other.pool, [\.waits, \.timeouts, \.opened, \.closed, \.abandoned, \.inUse, \.idle, \.peakInUse])
        sum.pool.waitNanoseconds &+= other.pool.waitNanoseconds
        if var breaker = sum.breaker, let theirs = other.breaker {
            breaker.state = Self.worse(breaker.state, theirs.state)
            Self.add(&breaker, theirs, [\.opened, \.halfOpened, \.closed, \.rejected, \.failures, \.successes, \.failuresInWindow])
            sum.breaker = breaker
        }
        if var backpressure = sum.backpressure, let theirs = other.backpressure {
            Self.add(&backpressure, theirs, [\.inFlight, \.queueDepth, \.waits, \.shedQueueFull, \.shedTimeout])
            sum.backpressure = backpressure
        }
        return sum
    }

    private static func add<Counters>(_ sum: inout Counters, _ other: Counters, _ fields: [WritableKeyPath<Counters, Int>]) {
        for field in fields { sum[keyPath: field] &+= other[keyPath: field] }
    }

    private static func worse(_ a: CircuitBreaker.State, _ b: CircuitBreaker.State) -> CircuitBreaker.State {
        if a == .open || b == .open { return .open }
        if a == .halfOpen || b == .halfOpen { return .halfOpen }
        return .closed
    }
}
