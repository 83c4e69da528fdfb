import CachekitCore
import Foundation
import Glibc
@testable import CachekitRedis

/// A Sentinel-managed service on loopback for one test: a master, a replica of it
/// (`--replicaof`) and three sentinels (`redis-server sentinel.conf --sentinel`, each with its
/// own writable config file, quorum 2, short down-after and failover timeouts). Stopped on deinit.
final class SentinelTopology: @unchecked Sendable {
    let serviceName: String
    let master: RedisServerProcess
    let replica: RedisServerProcess
    let sentinels: [SentinelProcess]

    init(serviceName: String = "ckservice") throws {
        self.serviceName = serviceName
        let master = try RedisServerProcess()
        self.master = master
        replica = try RedisServerProcess(arguments: ["--replicaof", "127.0.0.1", String(master.port)])
        // Sentinels learn of replicas from the master's INFO, sent at once and then every 10 s:
        // start them only once the replica is attached, or the first failover finds none.
        try Self.waitFor("the replica to sync", seconds: 15) {
            let info = try Self.call(master.port, ["INFO", "replication"])
            guard case .bulk(let text) = info else { return false }
            return String(decoding: text, as: UTF8.self).contains("state=online")
        }
        var sentinels: [SentinelProcess] = []
        for _ in 0..<3 { sentinels.append(try SentinelProcess(monitoring: master.port, serviceName: serviceName)) }
        self.sentinels = sentinels
    }

    /// Servers started from a Swift Testing thread inherit its blocked signals, SIGTERM among
    /// them, so `RedisServerProcess.stop()`'s terminate() would wait forever: SHUTDOWN them first.
    deinit {
        for port in [master.port, replica.port] { _ = try? Self.call(port, ["SHUTDOWN", "NOSAVE"]) }
        for sentinel in sentinels { sentinel.stop() }
    }

    var masterAddress: RedisHostPort { RedisHostPort(host: "127.0.0.1", port: master.port) }
    var replicaAddress: RedisHostPort { RedisHostPort(host: "127.0.0.1", port: replica.port) }
    var sentinelAddresses: [RedisHostPort] { sentinels.map { RedisHostPort(host: "127.0.0.1", port: $0.port) } }

    /// `SENTINEL FAILOVER` on the first sentinel, repeated while it has no replica to promote yet.
    func failover() throws {
        try Self.waitFor("a sentinel to accept SENTINEL FAILOVER", seconds: 20) {
            let reply = try Self.call(sentinels[0].port, ["SENTINEL", "FAILOVER", .text(serviceName)])
            return reply == .simple("OK")
        }
    }

    /// One command on a fresh connection to a loopback port.
    static func call(_ port: Int, _ arguments: [RedisArgument]) throws -> RedisValue {
        let connection = try RedisConnection.open(RedisConnectionOptions(address: .tcp(RedisHostPort(host: "127.0.0.1", port: port))),
                                                  deadline: Deadline.after(milliseconds: 2_000))
        defer { connection.close() }
        return try connection.call(arguments, limits: .scanPage, deadline: Deadline.after(milliseconds: 2_000))
    }

    static func waitFor(_ what: String, seconds: Double, _ condition: () throws -> Bool) throws {
        let start = Date()
        while Date().timeIntervalSince(start) < seconds {
            if (try? condition()) == true { return }
            usleep(100_000)
        }
        throw TestFailure("timed out waiting for \(what)")
    }
}

/// One `redis-server --sentinel` with its own config file in its own directory.
final class SentinelProcess: @unchecked Sendable {
    let port: Int
    private let directory: URL
    private let process = Process()

    init(monitoring masterPort: Int, serviceName: String) throws {
        port = try freeLoopbackPort()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ck-sentinel-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let config = directory.appendingPathComponent("sentinel.conf")
        try """
            port \(port)
            bind 127.0.0.1
            daemonize no
            dir \(directory.path)
            sentinel monitor \(serviceName) 127.0.0.1 \(masterPort) 2
            sentinel down-after-milliseconds \(serviceName) 1000
            sentinel failover-timeout \(serviceName) 3000
            sentinel parallel-syncs \(serviceName) 1

            """.write(to: config, atomically: true, encoding: .utf8)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/redis-server")
        process.arguments = [config.path, "--sentinel", "--loglevel", "warning"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let started = Date()
        while Date().timeIntervalSince(started) < 10 {
            if loopbackAccepts(port: port) { return }
            guard process.isRunning else { break }
            usleep(20_000)
        }
        stop()
        throw TestFailure("redis-server --sentinel on port \(port) did not start")
    }

    /// SIGKILL: SIGTERM may be blocked in the child (see `SentinelTopology.deinit`).
    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }

    deinit { stop() }
}
