import CachekitCore
import Glibc

/// One node of the slot map as the health report shows it.
public struct ClusterNodeInfo: Sendable, Equatable {
    public var address: RedisHostPort
    public var isPrimary: Bool
    /// Slots this node serves as primary (0 for a replica).
    public var slots: Int
}

/// Which node serves each of the 16384 slots, learned from `CLUSTER SLOTS` and corrected by
/// MOVED replies in between. Refreshes are single-flighted: while one caller asks the cluster,
/// the others keep routing with the map they have (a MOVED caller goes to the node the reply
/// named), and a refresh starts at most every `minRefreshIntervalMilliseconds`. Thread-safe.
final class ClusterTopology: Sendable {
    struct SlotMap {
        var nodes: [RedisHostPort] = []
        var primary: [Bool] = []
        /// Per node: the indices of its replicas.
        var replicas: [[Int]] = []
        /// Per slot: the index of its primary in `nodes`, `unowned` when no node claims it.
        var owner = [UInt16](repeating: unowned, count: ClusterSlot.count)
        var loaded = false
        static let unowned = UInt16.max

        mutating func index(of node: RedisHostPort, primary isPrimary: Bool) -> Int? {
            if let found = nodes.firstIndex(of: node) {
                if isPrimary { primary[found] = true }
                return found
            }
            // Bounded: a misbehaving node naming ever new addresses cannot grow the map without end.
            guard nodes.count < ClusterTopology.maxNodes else { return nil }
            nodes.append(node)
            primary.append(isPrimary)
            replicas.append([])
            return nodes.count &- 1
        }
    }

    struct RefreshState {
        /// The process whose thread is refreshing: a forked child never waits for the parent's.
        var inFlightIn: pid_t?
        var lastStartedNanoseconds: Int64 = 0
        var refreshes = 0
        var failures = 0
        /// Rotates replica choice and the "any node" order.
        var rotation = 0
    }

    static let maxNodes = 1_000
    static let minRefreshIntervalMilliseconds = 100

    let seeds: [RedisHostPort]
    /// Credentials and TLS of every node; the address is replaced per node.
    let options: RedisConnectionOptions
    let connectTimeoutMilliseconds: Int
    let commandTimeoutMilliseconds: Int
    private let map = Locked(SlotMap())
    private let refreshState = Locked(RefreshState())

    init(seeds: [RedisHostPort], options: RedisConnectionOptions, connectTimeoutMilliseconds: Int, commandTimeoutMilliseconds: Int) {
        self.seeds = seeds
        self.options = options
        self.connectTimeoutMilliseconds = connectTimeoutMilliseconds
        self.commandTimeoutMilliseconds = commandTimeoutMilliseconds
    }

    /// The connection options for one node (its TLS name is its host).
    func options(for node: RedisHostPort) -> RedisConnectionOptions {
        var options = self.options
        options.address = .tcp(node)
        options.tlsServerName = node.host
        return options
    }

    var isLoaded: Bool { map.withLock { $0.loaded } }

    /// The primary serving `slot`, nil when the map does not know one.
    func primary(of slot: Int) -> RedisHostPort? {
        map.withLock { map -> RedisHostPort? in
            let owner = map.owner[slot]
            return owner == SlotMap.unowned ? nil : map.nodes[Int(owner)]
        }
    }

    /// A replica of `slot`'s primary, chosen in turn; the primary when it has none.
    func replica(of slot: Int) -> RedisHostPort? {
        let turn = refreshState.withLock { state -> Int in
            state.rotation &+= 1
            return state.rotation & Int.max
        }
        return map.withLock { map -> RedisHostPort? in
            let owner = map.owner[slot]
            guard owner != SlotMap.unowned else { return nil }
            let replicas = map.replicas[Int(owner)]
            return replicas.isEmpty ? map.nodes[Int(owner)] : map.nodes[replicas[turn % replicas.count]]
        }
    }

    /// A MOVED reply: `node` serves `slot` now.
    func moved(slot: Int, to node: RedisHostPort) {
        map.withLock { map in
            guard let index = map.index(of: node, primary: true) else { return }
            map.owner[slot] = UInt16(truncatingIfNeeded: index)
        }
    }

    /// Every primary that serves at least one slot.
    func primaries() -> [RedisHostPort] {
        map.withLock { map -> [RedisHostPort] in
            var serving = [Bool](repeating: false, count: map.nodes.count)
            for owner in map.owner where owner != SlotMap.unowned { serving[Int(owner)] = true }
            return map.nodes.indices.filter { serving[$0] }.map { map.nodes[$0] }
        }
    }

    func nodes() -> [ClusterNodeInfo] {
        map.withLock { map -> [ClusterNodeInfo] in
            var slots = [Int](repeating: 0, count: map.nodes.count)
            for owner in map.owner where owner != SlotMap.unowned { slots[Int(owner)] &+= 1 }
            return map.nodes.indices.map { ClusterNodeInfo(address: map.nodes[$0], isPrimary: slots[$0] > 0, slots: slots[$0]) }
        }
    }

    /// Known nodes then seeds, without repeats, starting at a rotating place: where a
    /// subscriber or a refresh tries next after the node it used failed.
    func candidates() -> [RedisHostPort] {
        var all = map.withLock { map in map.nodes.indices.filter { map.primary[$0] }.map { map.nodes[$0] } }
        for seed in seeds where !all.contains(seed) { all.append(seed) }
        guard !all.isEmpty else { return [] }
        let start = refreshState.withLock { state -> Int in
            state.rotation &+= 1
            return state.rotation & Int.max
        } % all.count
        return Array(all[start...] + all[..<start])
    }

    var refreshCounts: (refreshes: Int, failures: Int) { refreshState.withLock { ($0.refreshes, $0.failures) } }

    /// Asks one node after another for `CLUSTER SLOTS` and replaces the map with the first
    /// answer. Returns at once when another caller's refresh is in flight or one started less
    /// than the minimum interval ago, unless the map was never loaded: then the caller waits for
    /// the other refresh, or refreshes itself, so the first call has a map to route with.
    func refresh() throws(CachekitError) {
        let mustHaveMap = !isLoaded
        let now = MonotonicClock.nowNanoseconds()
        let interval = Int64(Self.minRefreshIntervalMilliseconds) &* 1_000_000
        let process = ProcessIdentity.current
        let mine = refreshState.withLock { state -> Bool in
            guard state.inFlightIn != process else { return false }
            if !mustHaveMap && now &- state.lastStartedNanoseconds < interval { return false }
            state.inFlightIn = process
            state.lastStartedNanoseconds = now
            return true
        }
        guard mine else {
            if mustHaveMap { try waitForFirstMap() }
            return
        }
        var failure: CachekitError?
        do throws(CachekitError) {
            try loadFromAnyNode()
        } catch {
            failure = error
        }
        refreshState.withLock { state in
            state.inFlightIn = nil
            state.refreshes &+= 1
            if failure != nil { state.failures &+= 1 }
        }
        if let failure, mustHaveMap { throw failure }
    }

    /// Another caller is loading the first map: wait for it (bounded by the connect and
    /// command timeouts), polling, as it may fail and leave the map empty.
    private func waitForFirstMap() throws(CachekitError) {
        let deadline = Deadline.after(milliseconds: connectTimeoutMilliseconds &+ commandTimeoutMilliseconds)
        while !isLoaded {
            let running = refreshState.withLock { $0.inFlightIn == ProcessIdentity.current }
            if !running { return try refresh() }
            if deadline.hasPassed {
                throw CachekitError(.backendTimeout, "Redis Cluster: no slot map within the connect and command timeouts")
            }
            usleep(2_000)
        }
    }

    private func loadFromAnyNode() throws(CachekitError) {
        var lastError = CachekitError(.backendUnavailable, "Redis Cluster: no seed node to ask for the slot map")
        for node in candidates() {
            do throws(CachekitError) {
                let connection = try RedisConnection.open(options(for: node),
                                                          deadline: .after(milliseconds: connectTimeoutMilliseconds))
                defer { connection.close() }
                let reply = try connection.call(["CLUSTER", "SLOTS"], limits: .scanPage,
                                                deadline: .after(milliseconds: commandTimeoutMilliseconds))
                let fresh = try Self.slotMap(reply, askedNode: node)
                map.withLock { $0 = fresh }
                return
            } catch {
                lastError = error
            }
        }
        throw CachekitError(lastError.status, "Redis Cluster: no node gave a slot map (last: \(lastError.message))")
    }

    /// A `CLUSTER SLOTS` reply as a map: `[start, end, [host, port, id...], [replica...]...]`
    /// per range. An empty host means the node asked; `?` an endpoint the node does not know.
    static func slotMap(_ reply: RedisValue, askedNode: RedisHostPort) throws(CachekitError) -> SlotMap {
        func invalid(_ why: String) -> CachekitError { CachekitError(.backendError, "Redis CLUSTER SLOTS: \(why)") }
        guard case .array(let ranges) = reply else {
            if case .error(let text) = reply { throw invalid(text) }
            throw invalid("unexpected reply")
        }
        var map = SlotMap()
        for range in ranges {
            guard case .array(let parts) = range, parts.count >= 3,
                  case .integer(let start) = parts[0], case .integer(let end) = parts[1],
                  start >= 0, end >= start, end < ClusterSlot.count else { throw invalid("a slot range of an unexpected shape") }
            var primaryIndex: Int?
            for (position, part) in parts.dropFirst(2).enumerated() {
                guard let node = endpoint(part, askedNode: askedNode) else { continue }
                guard let index = map.index(of: node, primary: position == 0) else { continue }
                if position == 0 {
                    primaryIndex = index
                } else if let primaryIndex, !map.replicas[primaryIndex].contains(index) {
                    map.replicas[primaryIndex].append(index)
                }
            }
            guard let primaryIndex else { continue }
            for slot in Int(start)...Int(end) { map.owner[slot] = UInt16(truncatingIfNeeded: primaryIndex) }
        }
        guard map.owner.contains(where: { $0 != SlotMap.unowned }) else { throw invalid("no slot is served") }
        map.loaded = true
        return map
    }

    private static func endpoint(_ part: RedisValue, askedNode: RedisHostPort) -> RedisHostPort? {
        guard case .array(let fields) = part, fields.count >= 2,
              case .bulk(let hostBytes) = fields[0], case .integer(let port) = fields[1], port >= 1, port <= 65_535,
              hostBytes.count <= 255 else { return nil }
        let host = String(decoding: hostBytes, as: UTF8.self).lowercased()
        if host == "?" { return nil }
        if host.isEmpty { return RedisHostPort(host: askedNode.host, port: Int(port)) }
        guard !host.contains(where: { "/@?#[] ".contains($0) || $0.isNewline }) else { return nil }
        return RedisHostPort(host: host, port: Int(port))
    }
}
