import CachekitCore
import Glibc
import Testing
@testable import CachekitRedis

/// The bounds of the redirect-following call, against scripted fake nodes: TRYAGAIN is retried,
/// CLUSTERDOWN fails after `maxRetries`, two nodes redirecting to each other fail after
/// `maxRedirects`, and MOVED replies from many threads do not cause one map refresh each.
@Suite(.serialized) struct ClusterRedirectTests {
    private static let value = "$1\r\nv\r\n"

    private func client(_ seed: RedisHostPort) throws -> ClusterClient {
        var settings = RedisClient.Settings()
        settings.connectTimeoutMilliseconds = 1_000
        settings.commandTimeoutMilliseconds = 1_000
        settings.breaker = nil
        return try ClusterClient(url: RedisURL(target: .cluster(nodes: [seed])), settings: settings)
    }

    private func get(_ cluster: ClusterClient, _ key: String = "k") throws(CachekitError) -> RedisValue {
        try cluster.run(slot: ClusterSlot.of(Array(key.utf8))) { connection, deadline throws(CachekitError) -> RedisValue in
            try connection.call(["GET", .text(key)], limits: .small, deadline: deadline)
        }
    }

    /// A node whose CLUSTER SLOTS gives every slot to itself and whose GET answers `get(n)` for the n-th GET.
    private func node(_ get: @escaping @Sendable (Int) -> String) throws -> ScriptedClusterNode {
        let me = Locked(RedisHostPort(host: "127.0.0.1", port: 0))
        let gets = Locked(0)
        let node = try ScriptedClusterNode { command in
            if command.first == "CLUSTER" { return ScriptedClusterNode.allSlots(to: me.withLock { $0 }) }
            let n = gets.withLock { (count: inout Int) -> Int in
                count += 1
                return count
            }
            return get(n)
        }
        me.withLock { $0 = node.address }
        return node
    }

    @Test func tryAgainIsRetriedUntilTheSlotAnswers() throws {
        let node = try node { $0 <= 2 ? "-TRYAGAIN Multiple keys request during rehashing of slot\r\n" : Self.value }
        defer { node.stop() }
        let cluster = try client(node.address)
        defer { cluster.close() }
        #expect(try get(cluster) == .bulk(Array("v".utf8)))
        #expect(node.count("GET") == 3)
    }

    @Test func clusterDownFailsAfterTheRetryBound() throws {
        let node = try node { _ in "-CLUSTERDOWN The cluster is down\r\n" }
        defer { node.stop() }
        let cluster = try client(node.address)
        defer { cluster.close() }
        #expect(performing: { try get(cluster) }, throws: { error in
            guard let error = error as? CachekitError else { return false }
            return error.status == .backendUnavailable && error.message.contains("CLUSTERDOWN")
        })
        #expect(node.count("GET") == ClusterClient.maxRetries + 1)
    }

    @Test func twoNodesRedirectingToEachOtherFailAfterTheRedirectBound() throws {
        let other = Locked(RedisHostPort(host: "127.0.0.1", port: 0))
        let first = Locked(RedisHostPort(host: "127.0.0.1", port: 0))
        let a = try node { _ in "-MOVED \(ClusterSlot.of(Array("k".utf8))) \(other.withLock { $0 })\r\n" }
        let b = try node { _ in "-MOVED \(ClusterSlot.of(Array("k".utf8))) \(first.withLock { $0 })\r\n" }
        defer { a.stop(); b.stop() }
        other.withLock { $0 = b.address }
        first.withLock { $0 = a.address }
        let cluster = try client(a.address)
        defer { cluster.close() }
        #expect(performing: { try get(cluster) }, throws: { error in
            (error as? CachekitError)?.status == .backendError
        })
        #expect(a.count("GET") + b.count("GET") == ClusterClient.maxRedirects + 1)
    }

    @Test func movedRepliesFromManyThreadsShareMapRefreshes() throws {
        // A's map keeps the slot, B serves it: every refresh puts the slot back on A, so each
        // thread's next call is MOVED again. One refresh per MOVED would make the counts equal.
        let target = Locked(RedisHostPort(host: "127.0.0.1", port: 0))
        let b = try node { _ in Self.value }
        target.withLock { $0 = b.address }
        let a = try node { _ in "-MOVED \(ClusterSlot.of(Array("k".utf8))) \(target.withLock { $0 })\r\n" }
        defer { a.stop(); b.stop() }
        let cluster = try client(a.address)
        defer { cluster.close() }
        let wrong = Locked(0)
        let started = MonotonicClock.preciseNanoseconds()
        var threads: [pthread_t] = []
        for _ in 0..<8 {
            if let thread = startThread({
                for _ in 0..<25 where (try? get(cluster)) != .bulk(Array("v".utf8)) { wrong.withLock { $0 += 1 } }
            }) { threads.append(thread) }
        }
        for thread in threads { pthread_join(thread, nil) }
        #expect(wrong.withLock { $0 } == 0)
        #expect(b.count("GET") == 200)
        let moved = a.count("GET")
        let refreshes = a.count("CLUSTER")
        let elapsedMilliseconds = Int((MonotonicClock.preciseNanoseconds() - started) / 1_000_000)
        #expect(moved >= 1 && refreshes >= 1 && refreshes <= moved)
        // Refreshes are single-flighted and at most one per 100 ms, however many MOVED replies
        // came (on a loaded machine the threads may run one after another and meet few).
        #expect(refreshes <= elapsedMilliseconds / 100 + 1, "\(refreshes) refreshes for \(moved) MOVED replies in \(elapsedMilliseconds) ms")
    }
}
