import CachekitCore
import Glibc

/// A Redis Cluster as one client: the slot map (`ClusterTopology`), one `RedisClient` per node
/// (each with its own pool, bounded wait, breaker and backpressure, so one failing node opens
/// only its own breaker), and the call path that follows the cluster's answers:
///
/// - `MOVED`: the slot map takes the named node for that slot, a refresh is started
///   (single-flighted) and the command is sent there;
/// - `ASK`: the command goes to the named node once, after ASKING, and the map is unchanged;
/// - `TRYAGAIN`, `CLUSTERDOWN`, an unserved slot, or a node that cannot be reached: the map is
///   refreshed and the command retried after a short, doubling pause, at most `maxRetries`
///   times; then the error is thrown and the cache fails open as for any Redis failure.
///
/// At most `maxRedirects` redirects per call: more means the nodes disagree about the slot
/// (`.backendError`). A body is run again whole after a redirect or retry, so it must touch
/// only keys of one slot and be idempotent (GET, SET, SADD, EXPIRE, DEL all are). Thread-safe.
public final class ClusterClient: Sendable {
    public let url: RedisURL
    public let settings: RedisClient.Settings
    let topology: ClusterTopology
    private let nodeClients = Locked<[RedisHostPort: RedisClient]>([:])
    /// Connections to whichever node answers (known primaries and seeds in turn): the
    /// invalidation listener's, which so moves on when its node fails.
    public let anyNode: RedisClient

    public static let maxRedirects = 5
    public static let maxRetries = 5
    static let firstRetryPauseMilliseconds = 25

    public init(url: RedisURL, settings: RedisClient.Settings) throws(CachekitError) {
        guard case .cluster(let seeds) = url.target, !seeds.isEmpty else {
            throw CachekitError(.invalidConfig, "not a Redis Cluster URL: \(url.redactedDescription)")
        }
        self.url = url
        self.settings = settings
        let topology = ClusterTopology(seeds: seeds, options: try RedisConnectionOptions(url: url),
                                       connectTimeoutMilliseconds: settings.connectTimeoutMilliseconds,
                                       commandTimeoutMilliseconds: settings.commandTimeoutMilliseconds)
        self.topology = topology
        anyNode = try RedisClient(url: url, settings: settings, connectionFactory: { deadline throws(CachekitError) in
            try Self.openAnyNode(topology, deadline: deadline)
        })
    }

    private static func openAnyNode(_ topology: ClusterTopology, deadline: Deadline) throws(CachekitError) -> RedisConnection {
        var lastError = CachekitError(.backendUnavailable, "Redis Cluster: no node to connect to")
        for node in topology.candidates() {
            do throws(CachekitError) { return try RedisConnection.open(topology.options(for: node), deadline: deadline) } catch {
                lastError = error
                if deadline.hasPassed { break }
            }
        }
        throw CachekitError(lastError.status, "Redis Cluster: no node accepted a connection (last: \(lastError.message))")
    }

    /// The client of one node, made on first use. With `read_from_replicas` every connection
    /// sends READONLY after AUTH (harmless on a primary), so any node's pool can serve reads.
    func client(for node: RedisHostPort) throws(CachekitError) -> RedisClient {
        try nodeClients.withLock { (clients: inout [RedisHostPort: RedisClient]) throws(CachekitError) -> RedisClient in
            if let client = clients[node] { return client }
            // Bounded like the slot map: redirects naming ever new addresses cannot grow it without end.
            guard clients.count < ClusterTopology.maxNodes else {
                throw CachekitError(.backendError, "Redis Cluster: more than \(ClusterTopology.maxNodes) node addresses seen")
            }
            var nodeURL = url
            nodeURL.target = .tcp(node)
            let options = topology.options(for: node)
            let readOnly = url.readFromReplicas
            let client = try RedisClient(url: nodeURL, settings: settings, connectionFactory: { deadline throws(CachekitError) in
                let connection = try RedisConnection.open(options, deadline: deadline)
                if readOnly {
                    let reply = try connection.call(["READONLY"], limits: .small, deadline: deadline)
                    guard case .simple = reply else {
                        connection.close()
                        throw CachekitError(.backendError, "Redis at \(node) refused READONLY (is it a cluster node?)")
                    }
                }
                return connection
            })
            clients[node] = client
            return client
        }
    }

    /// Loads the slot map if it was never loaded (the first call), else nothing.
    func ensureMap() throws(CachekitError) {
        if !topology.isLoaded { try topology.refresh() }
    }

    /// The node a command for `slot` goes to first: its primary, or with `read_from_replicas`
    /// and `readOnly` one of its replicas in turn.
    func node(for slot: Int, readOnly: Bool) -> RedisHostPort? {
        readOnly && url.readFromReplicas ? topology.replica(of: slot) : topology.primary(of: slot)
    }

    private enum Outcome<Result> {
        case done(Result)
        case signal(ClusterSignal)
    }

    /// Runs `body` on the node serving `slot`, following redirects and retrying as described
    /// above. `readOnly`: the body only reads (a replica may answer it with read_from_replicas).
    public func run<Result>(slot: Int, readOnly: Bool = false,
                            _ body: (RedisConnection, Deadline) throws(CachekitError) -> Result) throws(CachekitError) -> Result {
        guard (0..<ClusterSlot.count).contains(slot) else { throw CachekitError(.invalidArgument, "Redis Cluster: slot \(slot) out of range") }
        try ensureMap()
        var redirect: (node: RedisHostPort, asking: Bool)?
        var redirects = 0
        var retries = 0
        var replicaAllowed = readOnly
        while true {
            let target = redirect?.node ?? node(for: slot, readOnly: replicaAllowed)
            let asking = redirect?.asking ?? false
            redirect = nil
            guard let target else {
                try retry(&retries, "no node serves slot \(slot)", status: .backendUnavailable)
                continue
            }
            let outcome: Outcome<Result>
            do throws(CachekitError) {
                outcome = try client(for: target).run { connection, deadline throws(CachekitError) -> Outcome<Result> in
                    if asking { connection.setAsking(true) }
                    defer { if asking { connection.setAsking(false) } }
                    do throws(CachekitError) {
                        let result = try body(connection, deadline)
                        if let signal = connection.clusterSignal { return .signal(signal) }
                        return .done(result)
                    } catch {
                        // The body read a redirect as an error reply: follow it instead.
                        if error.status == .backendError, let signal = connection.clusterSignal { return .signal(signal) }
                        throw error
                    }
                }
            } catch {
                guard Self.isNodeFailure(error) else { throw error }
                try? topology.refresh()
                replicaAllowed = false
                // The map still names the node whose breaker is open: fail fast, the breaker's purpose.
                if error.status == .circuitOpen, node(for: slot, readOnly: false) == target { throw error }
                try retry(&retries, "node \(target) failed: \(error.message)", status: error.status)
                continue
            }
            switch outcome {
            case .done(let result):
                return result
            case .signal(.moved(let movedSlot, let node)):
                try countRedirect(&redirects, slot: slot)
                topology.moved(slot: movedSlot, to: node)
                try? topology.refresh()
                redirect = (node, false)
            case .signal(.ask(_, let node)):
                try countRedirect(&redirects, slot: slot)
                redirect = (node, true)
            case .signal(.tryAgain):
                try retry(&retries, "slot \(slot) kept answering TRYAGAIN (resharding)", status: .backendUnavailable)
            case .signal(.clusterDown):
                try? topology.refresh()
                try retry(&retries, "the cluster is down for slot \(slot) (CLUSTERDOWN)", status: .backendUnavailable)
            }
        }
    }

    /// Runs `body` on one node, without redirects (a SCAN of that node's keys).
    public func run<Result>(node: RedisHostPort, _ body: (RedisConnection, Deadline) throws(CachekitError) -> Result) throws(CachekitError) -> Result {
        try client(for: node).run(body)
    }

    /// A connection failure or an open breaker: the node may have failed over.
    static func isNodeFailure(_ error: CachekitError) -> Bool {
        error.status == .backendUnavailable || error.status == .circuitOpen
    }

    private func countRedirect(_ redirects: inout Int, slot: Int) throws(CachekitError) {
        redirects &+= 1
        guard redirects <= Self.maxRedirects else {
            throw CachekitError(.backendError, "Redis Cluster: slot \(slot) redirected more than \(Self.maxRedirects) times (the nodes disagree)")
        }
    }

    /// Counts a retry and pauses before it (25 ms, doubling), or throws once the bound is reached.
    private func retry(_ retries: inout Int, _ why: String, status: Status) throws(CachekitError) {
        retries &+= 1
        guard retries <= Self.maxRetries else {
            throw CachekitError(status, "Redis Cluster: \(why), after \(Self.maxRetries) retries")
        }
        usleep(UInt32(Self.firstRetryPauseMilliseconds << (retries &- 1)) &* 1_000)
    }

    /// The primaries serving slots, loading the map first if needed.
    public func primaries() throws(CachekitError) -> [RedisHostPort] {
        try ensureMap()
        return topology.primaries()
    }

    /// Refreshes the slot map now (single-flighted), for a caller that knows it changed.
    public func refreshSlotMap() throws(CachekitError) { try topology.refresh() }

    public func close() {
        anyNode.close()
        for client in nodeClients.withLock({ Array($0.values) }) { client.close() }
    }

    // MARK: Several keys

    /// Runs `commands(key)` for every key, pipelined per node: every node's pipeline is
    /// written before any is read (`overlap`), so the call costs about one round trip. A key whose replies carry a redirect or
    /// retry signal is run again alone through `run(slot:)`. Returns each key's replies, in order.
    public func pipelinedPerKey(_ keys: [[UInt8]], readOnly: Bool, limits: ReplyLimits,
                                _ commands: ([UInt8]) -> [[RedisArgument]]) throws(CachekitError) -> [[RedisValue]] {
        try ensureMap()
        var results = [[RedisValue]](repeating: [], count: keys.count)
        var groups: [RedisHostPort: [Int]] = [:]
        var unrouted: [Int] = []
        for index in keys.indices {
            if let node = node(for: ClusterSlot.of(keys[index]), readOnly: readOnly) {
                groups[node, default: []].append(index)
            } else {
                unrouted.append(index)
            }
        }
        var again = unrouted
        let plan = groups.map { node, indices -> NodeBatch in
            var batch = NodeBatch(node: node, indices: indices)
            for index in indices {
                let keyCommands = commands(keys[index])
                batch.counts.append(keyCommands.count)
                batch.commands.append(contentsOf: keyCommands)
            }
            return batch
        }
        var outcomes = [Result<[RedisValue], CachekitError>?](repeating: nil, count: plan.count)
        overlap(plan, from: 0, limits: limits, into: &outcomes)
        for (batch, outcome) in zip(plan, outcomes) {
            let replies: [RedisValue]
            switch outcome {
            case .success(let received): replies = received
            case .failure(let error):
                guard Self.isNodeFailure(error) else { throw error }
                // The node may have failed over: its keys go the careful way, one by one.
                try? topology.refresh()
                again.append(contentsOf: batch.indices)
                continue
            case nil: throw CachekitError(.internal, "Redis Cluster: a node's batch was not run")
            }
            guard replies.count == batch.commands.count else {
                throw CachekitError(.backendError, "Redis Cluster: unexpected number of replies")
            }
            var offset = 0
            for (position, index) in batch.indices.enumerated() {
                let mine = Array(replies[offset..<(offset &+ batch.counts[position])])
                offset &+= batch.counts[position]
                if Self.carriesSignal(mine, from: batch.node) { again.append(index) } else { results[index] = mine }
            }
        }
        for index in again {
            let keyCommands = commands(keys[index])
            results[index] = try run(slot: ClusterSlot.of(keys[index]), readOnly: readOnly) {
                connection, deadline throws(CachekitError) -> [RedisValue] in
                try connection.pipeline(keyCommands, limits: limits, deadline: deadline)
            }
            guard results[index].count == keyCommands.count else {
                throw CachekitError(.backendError, "Redis Cluster: unexpected number of replies")
            }
        }
        return results
    }

    /// One node's share of a several-key call: its keys' indices, their commands, and how many
    /// commands each key has.
    private struct NodeBatch {
        let node: RedisHostPort
        let indices: [Int]
        var commands: [[RedisArgument]] = []
        var counts: [Int] = []
    }

    /// Writes every node's batch before reading any node's replies, so the nodes work at the
    /// same time and the call costs about one round trip, not one per node: each level holds its
    /// node's pooled connection (through that node's breaker and backpressure) while the
    /// levels after it send, then reads its own replies. Records each node's outcome.
    private func overlap(_ plan: [NodeBatch], from index: Int, limits: ReplyLimits,
                         into outcomes: inout [Result<[RedisValue], CachekitError>?]) {
        guard index < plan.count else { return }
        var descended = false
        do throws(CachekitError) {
            let replies = try client(for: plan[index].node).run { connection, deadline throws(CachekitError) -> [RedisValue] in
                let pending: RedisConnection.PendingReplies
                do throws(CachekitError) {
                    pending = try connection.send(pipeline: plan[index].commands, deadline: deadline)
                } catch {
                    if !descended {
                        descended = true
                        overlap(plan, from: index &+ 1, limits: limits, into: &outcomes)
                    }
                    throw error
                }
                // A retry on a fresh connection (CallGuard's stale-connection retry) sends again, once.
                if !descended {
                    descended = true
                    overlap(plan, from: index &+ 1, limits: limits, into: &outcomes)
                }
                return try connection.receive(pending, limits: limits, deadline: deadline)
            }
            outcomes[index] = .success(replies)
        } catch {
            outcomes[index] = .failure(error)
            if !descended { overlap(plan, from: index &+ 1, limits: limits, into: &outcomes) }
        }
    }

    private static func carriesSignal(_ replies: [RedisValue], from node: RedisHostPort) -> Bool {
        replies.contains { reply in
            if case .error(let text) = reply { return ClusterSignal.parse(text, replyFrom: node) != nil }
            return false
        }
    }

    // MARK: Health

    /// Every node of the slot map; with `ping`, each answers a PING through its own pool.
    public func nodeHealth(ping: Bool) -> [RedisNodeHealth] {
        try? ensureMap()
        return topology.nodes().map { info in
            var health = RedisNodeHealth(address: info.address.description, isPrimary: info.isPrimary, slots: info.slots)
            guard let client = try? client(for: info.address) else { return health }
            if ping { health.ping(client) }
            health.reliability = client.snapshot
            return health
        }
    }
}
