import CachekitCore
@testable import CachekitRedis

/// What a cluster node may answer, as the client reads it: every reply the stream decodes to is
/// read as a CLUSTER SLOTS map and, when an error, as a redirect. A map routes only to nodes it
/// holds; a redirect names a slot and port in range.
let clusterReplyTarget: FuzzTarget = { input in
    let asked = RedisHostPort(host: "10.0.0.1", port: 7000)
    for reply in readReplies(input, cuts: [], limits: .scanPage).replies {
        if let map = try? ClusterTopology.slotMap(reply, askedNode: asked) {
            let count = map.nodes.count
            if count > ClusterTopology.maxNodes || map.primary.count != count || map.replicas.count != count
                || map.owner.count != ClusterSlot.count
                || !map.owner.allSatisfy({ $0 == ClusterTopology.SlotMap.unowned || Int($0) < count })
                || !map.replicas.allSatisfy({ $0.allSatisfy { $0 < count } }) {
                fatalError("a slot map routes to a node it does not hold")
            }
        }
        guard case .error(let text) = reply else { continue }
        switch ClusterSignal.parse(text, replyFrom: asked) {
        case .moved(let slot, let node), .ask(let slot, let node):
            if !(0..<ClusterSlot.count).contains(slot) || !(1...65_535).contains(node.port) || node.host.isEmpty {
                fatalError("a redirect out of range")
            }
        case .tryAgain, .clusterDown, nil:
            break
        }
    }
}
