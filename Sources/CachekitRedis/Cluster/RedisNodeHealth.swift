import CachekitCore

/// One Redis node as the health report shows it: its role and slots (a single server is one
/// primary serving every slot), its breaker and pool, and a PING's round trip or failure.
public struct RedisNodeHealth: Sendable {
    /// `host:port` (or the redacted URL of a single server): never credentials.
    public var address: String
    public var isPrimary: Bool
    public var slots: Int
    public var reliability: ReliabilitySnapshot?
    /// Set when the PING was answered.
    public var pingNanoseconds: Int?
    /// Why the PING failed.
    public var error: String?

    public init(address: String, isPrimary: Bool, slots: Int) {
        self.address = address
        self.isPrimary = isPrimary
        self.slots = slots
    }

    /// One line per node, for `cachekit_cache_node_health_get`:
    /// `ADDRESS primary|replica slots=N breaker=closed|open|half-open|off pool_in_use=N` then
    /// ` ping_ns=N` or ` error=TEXT` (the rest of the line); spaces in an address are `%20`.
    public static func report(_ nodes: [RedisNodeHealth]) -> String {
        var text = ""
        for node in nodes {
            text += node.address.split(separator: " ", omittingEmptySubsequences: false).joined(separator: "%20")
            text += node.isPrimary ? " primary" : " replica"
            text += " slots=\(node.slots)"
            switch node.reliability?.breaker?.state {
            case .closed: text += " breaker=closed"
            case .open: text += " breaker=open"
            case .halfOpen: text += " breaker=half-open"
            case nil: text += " breaker=off"
            }
            text += " pool_in_use=\(node.reliability?.pool.inUse ?? 0)"
            if let ping = node.pingNanoseconds { text += " ping_ns=\(ping)" }
            if let error = node.error { text += " error=\(String(error.map { $0.isNewline ? " " : $0 }))" }
            text += "\n"
        }
        return text
    }

    mutating func ping(_ client: RedisClient) {
        let start = MonotonicClock.preciseNanoseconds()
        do throws(CachekitError) {
            let reply = try client.run { connection, deadline throws(CachekitError) -> RedisValue in
                try connection.call(["PING"], limits: .small, deadline: deadline)
            }
            if case .simple = reply {
                pingNanoseconds = Int(MonotonicClock.preciseNanoseconds() &- start)
            } else {
                error = "unexpected PING reply"
            }
        } catch {
            self.error = error.message
        }
    }
}
