import CachekitCore

/// What a cluster node's error reply tells the client to do instead of answering.
public enum ClusterSignal: Sendable, Equatable {
    /// `MOVED slot host:port`: the slot lives elsewhere now; refresh the slot map, retry there.
    case moved(slot: Int, node: RedisHostPort)
    /// `ASK slot host:port`: this one command goes to `node`, preceded by ASKING (a slot in migration).
    case ask(slot: Int, node: RedisHostPort)
    /// `TRYAGAIN`: a multi-key command during resharding; retry after a short pause.
    case tryAgain
    /// `CLUSTERDOWN`: the cluster cannot serve the slot (a failover in progress); retry, bounded.
    case clusterDown

    /// The signal an error reply carries, nil for any other error. `replyFrom` is the node that
    /// sent it: an empty host in a redirect means that node's host (Redis sends `:port` when it
    /// does not know its own address).
    public static func parse(_ text: String, replyFrom: RedisHostPort?) -> ClusterSignal? {
        if text.hasPrefix("TRYAGAIN") { return .tryAgain }
        if text.hasPrefix("CLUSTERDOWN") { return .clusterDown }
        let isMoved = text.hasPrefix("MOVED ")
        guard isMoved || text.hasPrefix("ASK ") else { return nil }
        let parts = text.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count >= 3, parts[1].count <= 5, let slot = Int(parts[1]), slot >= 0, slot < ClusterSlot.count,
              let node = parseNode(parts[2], replyFrom: replyFrom) else { return nil }
        return isMoved ? .moved(slot: slot, node: node) : .ask(slot: slot, node: node)
    }

    /// `host:port`, `[v6]:port` or a bare IPv6 `a:b::c:port` (split at the last colon, as
    /// Redis writes its announced IP without brackets).
    static func parseNode(_ text: Substring, replyFrom: RedisHostPort?) -> RedisHostPort? {
        guard let colon = text.lastIndex(of: ":") else { return nil }
        var host = text[..<colon]
        let portText = text[text.index(after: colon)...]
        guard !portText.isEmpty, portText.count <= 5, portText.allSatisfy(\.isASCIIDigit), let port = Int(portText),
              port >= 1, port <= 65_535 else { return nil }
        if host.hasPrefix("[") && host.hasSuffix("]") && host.count >= 2 { host = host.dropFirst().dropLast() }
        if host.isEmpty {
            guard let replyFrom else { return nil }
            return RedisHostPort(host: replyFrom.host, port: port)
        }
        guard host.count <= 255, !host.contains(where: { "/@?#[] ".contains($0) }) else { return nil }
        return RedisHostPort(host: host.lowercased(), port: port)
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
