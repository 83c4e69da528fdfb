import CachekitCore
import Glibc
import Testing
@testable import CachekitRedis

/// Slot hashing against the spec and a real cluster-enabled redis-server's CLUSTER KEYSLOT;
/// the parsers of redirects and of CLUSTER SLOTS.
@Suite struct ClusterTests {
    @Test func crc16IsTheSpecsXmodemVariant() {
        #expect(ClusterSlot.crc16(Array("123456789".utf8)) == 0x31C3)
        #expect(ClusterSlot.crc16([]) == 0)
    }

    @Test func hashTagsAsTheSpecDescribes() {
        func hashed(_ key: String) -> String { String(decoding: ClusterSlot.hashedPart(Array(key.utf8)), as: UTF8.self) }
        #expect(hashed("{user1000}.following") == "user1000")
        #expect(hashed("{user1000}.followers") == "user1000")
        #expect(hashed("foo{}{bar}") == "foo{}{bar}")
        #expect(hashed("foo{{bar}}zap") == "{bar")
        #expect(hashed("foo{bar}{zap}") == "bar")
        #expect(hashed("{}") == "{}")
        #expect(hashed("no tag") == "no tag")
        #expect(hashed("open{only") == "open{only")
        #expect(ClusterSlot.of(Array("{user1000}.following".utf8)) == ClusterSlot.of(Array("{user1000}.followers".utf8)))
    }

    @Test func slotsMatchARealServersClusterKeyslot() throws {
        let bus = try freeLoopbackPort()
        let directory = try makeTemporaryDirectory(prefix: "ck-cluster-conf")
        defer { removeTree(directory) }
        let server = try RedisServerProcess(arguments: ["--cluster-enabled", "yes", "--cluster-port", String(bus),
                                                        "--cluster-config-file", "\(directory)/nodes.conf"])
        defer { server.stop() }
        let connection = try RedisConnection.open(RedisConnectionOptions(address: server.address), deadline: .after(milliseconds: 2_000))
        defer { connection.close() }
        var keys: [[UInt8]] = ["", "{}", "{user1000}.following", "foo{}{bar}", "foo{{bar}}", "foo{bar}{zap}", "a{b", "}{x}",
                               "t:default:ns:users:func:m.f:args:1:1s", "鍵{タグ}"].map { Array($0.utf8) }
        var generator = SystemRandomNumberGenerator()
        for length in 1...400 {
            var key = (0..<(length % 40 + 1)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if length % 3 == 0 { key.insert(UInt8(ascii: "{"), at: key.count / 2) }
            if length % 4 == 0 { key.append(UInt8(ascii: "}")) }
            keys.append(key)
        }
        let replies = try connection.pipeline(keys.map { ["CLUSTER", "KEYSLOT", .bytes($0)] }, limits: .scanPage,
                                              deadline: .after(milliseconds: 5_000))
        #expect(replies.count == keys.count)
        for (key, reply) in zip(keys, replies) {
            #expect(reply == .integer(Int64(ClusterSlot.of(key))), "key \(key)")
        }
    }

    @Test func redirectsParsed() {
        let from = RedisHostPort(host: "10.1.1.1", port: 7000)
        #expect(ClusterSignal.parse("MOVED 3999 127.0.0.1:6381", replyFrom: from) == .moved(slot: 3999, node: RedisHostPort(host: "127.0.0.1", port: 6381)))
        #expect(ClusterSignal.parse("ASK 0 Cache-2.Example:7002", replyFrom: from) == .ask(slot: 0, node: RedisHostPort(host: "cache-2.example", port: 7002)))
        #expect(ClusterSignal.parse("MOVED 16383 :7001", replyFrom: from) == .moved(slot: 16383, node: RedisHostPort(host: "10.1.1.1", port: 7001)))
        #expect(ClusterSignal.parse("MOVED 5 ::1:7001", replyFrom: from) == .moved(slot: 5, node: RedisHostPort(host: "::1", port: 7001)))
        #expect(ClusterSignal.parse("MOVED 5 [fe80::2]:7001", replyFrom: from) == .moved(slot: 5, node: RedisHostPort(host: "fe80::2", port: 7001)))
        #expect(ClusterSignal.parse("TRYAGAIN Multiple keys request during rehashing of slot", replyFrom: from) == .tryAgain)
        #expect(ClusterSignal.parse("CLUSTERDOWN The cluster is down", replyFrom: from) == .clusterDown)
        for bad in ["MOVED 16384 h:1", "MOVED -1 h:1", "MOVED 1 h", "MOVED 1 h:0", "MOVED 1 h:65536", "MOVED x h:1", "MOVED 1",
                    "ASK 1 :1x", "MOVED 1 a/b:1", "ERR wrong type", "MOVEDX 1 h:1", "MOVED 1 :7001"] {
            #expect(ClusterSignal.parse(bad, replyFrom: bad == "MOVED 1 :7001" ? nil : from) == nil, "\(bad)")
        }
    }

    private func node(_ host: String, _ port: Int64, _ id: String = "id") -> RedisValue {
        .array([.bulk(Array(host.utf8)), .integer(port), .bulk(Array(id.utf8))])
    }

    @Test func slotMapFromClusterSlots() throws {
        let asked = RedisHostPort(host: "10.0.0.9", port: 7000)
        let reply = RedisValue.array([
            .array([.integer(0), .integer(5460), node("10.0.0.1", 7000), node("10.0.0.4", 7003)]),
            .array([.integer(5461), .integer(10922), node("", 7001), node("?", 7004)]),
            .array([.integer(10923), .integer(16383), node("10.0.0.3", 7002), node("10.0.0.5", 7005), node("10.0.0.6", 7006)]),
        ])
        let map = try ClusterTopology.slotMap(reply, askedNode: asked)
        func primary(_ slot: Int) -> RedisHostPort { map.nodes[Int(map.owner[slot])] }
        #expect(primary(0) == RedisHostPort(host: "10.0.0.1", port: 7000))
        #expect(primary(5461) == RedisHostPort(host: "10.0.0.9", port: 7001))  // empty host: the node asked
        #expect(primary(16383) == RedisHostPort(host: "10.0.0.3", port: 7002))
        #expect(map.replicas[Int(map.owner[16383])].count == 2)
        #expect(map.replicas[Int(map.owner[5461])].isEmpty)  // '?' is an unknown endpoint
        #expect(map.nodes.count == 6)
        for bad: RedisValue in [.error("ERR This instance has cluster support disabled"), .array([]), .integer(1),
                                .array([.array([.integer(5), .integer(4), node("h", 1)])]),
                                .array([.array([.integer(0), .integer(16384), node("h", 1)])])] {
            #expect(throws: CachekitError.self) { try ClusterTopology.slotMap(bad, askedNode: asked) }
        }
    }
}
