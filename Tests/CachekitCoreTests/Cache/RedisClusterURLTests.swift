import Testing
@testable import CachekitCore

@Suite struct RedisClusterURLTests {
    @Test func seedsPortsAndIPv6() throws {
        let url = try RedisURL.parse("redis+cluster://10.0.0.1:7000,[::1]:7001,Node-C")
        #expect(url.target == .cluster(nodes: [RedisHostPort(host: "10.0.0.1", port: 7000), RedisHostPort(host: "::1", port: 7001),
                                               RedisHostPort(host: "node-c", port: 6379)]))
        #expect(url.tls == nil && url.database == 0 && !url.readFromReplicas)
        #expect(url.redactedDescription == "redis+cluster://10.0.0.1:7000,[::1]:7001,node-c:6379 db 0")
    }

    @Test func tlsCredentialsAndReplicaReads() throws {
        let url = try RedisURL.parse("rediss+cluster://app:s%40cret@a:7000,b:7001/0?read_from_replicas=true&ssl_cert_reqs=none")
        #expect(url.tls != nil && url.username == "app" && url.password != nil && url.readFromReplicas)
        #expect(url.redactedDescription.hasPrefix("rediss+cluster://a:7000,b:7001 reading from replicas db 0 user app (with password)"))
        #expect(try RedisURL.parse("redis+cluster://a/?read_from_replicas=false").readFromReplicas == false)
    }

    @Test func refusals() {
        let refused = [
            "redis+cluster://",                               // no seed
            "redis+cluster://a:7000,",                        // an empty seed
            "redis+cluster://a:7000/1",                       // Cluster has db 0 only
            "redis+cluster://a:7000?db=2",
            "redis+cluster://a:7000?read_from_replicas=maybe",
            "redis://a:7000?read_from_replicas=true",         // replicas are a cluster notion here
            "redis+cluster://a:70000",
        ]
        for text in refused {
            #expect(throws: CachekitError.self, "\(text)") { try RedisURL.parse(text) }
        }
    }
}
