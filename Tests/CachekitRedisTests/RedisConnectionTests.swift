import CachekitCore
import Glibc
import Testing
@testable import CachekitRedis

private func open(_ url: String, timeoutMs: Int = 2_000) throws(CachekitError) -> RedisConnection {
    try RedisConnection.open(try RedisConnectionOptions(url: try RedisURL.parse(url)), deadline: .after(milliseconds: timeoutMs))
}

private func soon() -> Deadline { .after(milliseconds: 2_000) }


@Suite(.serialized) struct RedisConnectionTests {
    /// A Sentinel URL names no single server: options come from the master it discovers.
    @Test func sentinelURLGivesNoConnectionOptions() throws {
        let url = try RedisURL.parse("redis+sentinel://u:p@s1:26380/mymaster/2")
        #expect(throws: CachekitError.self) { try RedisConnectionOptions(url: url) }
    }

    @Test func plainTCPCommandsAndBinaryValues() throws {
        let server = try RedisServerProcess()
        let connection = try open(server.url)
        defer { connection.close() }
        #expect(try connection.call(["PING"], limits: .small, deadline: soon()) == .simple("PONG"))
        let value: [UInt8] = [0, 13, 10, 255, 36, 42]
        #expect(try connection.call(["SET", .bytes(Array("k".utf8)), .bytes(value)], limits: .small, deadline: soon()) == .simple("OK"))
        #expect(try connection.call(["GET", "k"], limits: .small, deadline: soon()) == .bulk(value))
        #expect(try connection.call(["GET", "absent"], limits: .small, deadline: soon()) == .null)
        #expect(try connection.call(["INCRBY", "n", .integer(-5)], limits: .small, deadline: soon()) == .integer(-5))
        #expect(try connection.call(["SET", "", .bytes([])], limits: .small, deadline: soon()) == .simple("OK"))
        #expect(try connection.call(["GET", .text("")], limits: .small, deadline: soon()) == .bulk([]))
        // A server error is a value, and the connection stays usable.
        let wrongType = try connection.call(["LPUSH", "k", "x"], limits: .small, deadline: soon())
        guard case .error(let text) = wrongType else { throw TestFailure("expected an error, got \(wrongType)") }
        #expect(text.hasPrefix("WRONGTYPE"))
        #expect(connection.isReusable)
        #expect(connection.ownerProcess == getpid())
    }

    @Test func largeValuesRoundTripBorrowedAndWithinLimits() throws {
        let server = try RedisServerProcess()
        let connection = try open(server.url)
        defer { connection.close() }
        let big = (0..<1_048_576).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let stored = try big.withUnsafeBytes { raw in
            try connection.call(["SET", "big", .borrowed(raw)], limits: .small, deadline: soon())
        }
        #expect(stored == .simple("OK"))
        #expect(try connection.call(["GET", "big"], limits: .value(maxValueSize: big.count), deadline: soon()) == .bulk(big))
        // One byte less allowed: refused, and the connection is dropped.
        let refused = thrown { _ = try connection.call(["GET", "big"], limits: .value(maxValueSize: big.count - 1), deadline: soon()) }
        #expect(refused?.status == .replyTooLarge)
        #expect(!connection.isReusable)
        #expect(thrown { _ = try connection.call(["PING"], limits: .small, deadline: soon()) }?.status == .backendUnavailable)
    }

    @Test func pipelineSendsOnceAndReadsEveryReply() throws {
        let server = try RedisServerProcess()
        let connection = try open(server.url)
        defer { connection.close() }
        var commands: [[RedisArgument]] = []
        for index in 0..<200 { commands.append(["SET", .text("p\(index)"), .integer(Int64(index))]) }
        commands.append(["MGET", "p0", "p199", "nope"])
        commands.append(["HGET", "p0", "f"])
        let replies = try connection.pipeline(commands, limits: .small, deadline: soon())
        #expect(replies.count == 202)
        #expect(replies[0..<200].allSatisfy { $0 == .simple("OK") })
        #expect(replies[200] == .array([.bulk(Array("0".utf8)), .bulk(Array("199".utf8)), .null]))
        if case .error = replies[201] {} else { Issue.record("HGET on a string should fail") }
        #expect(try connection.pipeline([], limits: .small, deadline: soon()).isEmpty)
    }

    @Test func passwordAndACLUserAndSelect() throws {
        let secret = "pa ss:w@rd"
        let server = try RedisServerProcess(arguments: [
            "--requirepass", secret, "--user", "alice", "on", ">alicepw", "~*", "&*", "+@all",
        ])
        let encoded = "pa%20ss%3Aw%40rd"
        let withPassword = try open("redis://:\(encoded)@127.0.0.1:\(server.port)/3")
        defer { withPassword.close() }
        _ = try withPassword.call(["SET", "where", "db3"], limits: .small, deadline: soon())
        let alice = try open("redis://alice:alicepw@127.0.0.1:\(server.port)/3")
        defer { alice.close() }
        #expect(try alice.call(["GET", "where"], limits: .small, deadline: soon()) == .bulk(Array("db3".utf8)))
        let db0 = try open("redis://default:\(encoded)@127.0.0.1:\(server.port)")
        defer { db0.close() }
        #expect(try db0.call(["GET", "where"], limits: .small, deadline: soon()) == .null)

        for url in [
            "redis://:wrong@127.0.0.1:\(server.port)", "redis://alice:\(encoded)@127.0.0.1:\(server.port)",
            // redis-py reads this as user "pa ss:w@rd"-less: the username `wrong` with an empty password.
            "redis://wrong@127.0.0.1:\(server.port)",
        ] {
            let refused = thrown { _ = try open(url) }
            #expect(refused?.status == .backendAuth, "\(url)")
            #expect(refused?.message.contains("pa ss") == false)
            #expect(refused?.message.contains("alicepw") == false)
        }
        // No credentials: the connection opens, commands answer NOAUTH.
        let anonymous = try open(server.url)
        defer { anonymous.close() }
        guard case .error(let text) = try anonymous.call(["GET", "x"], limits: .small, deadline: soon()) else {
            throw TestFailure("NOAUTH expected")
        }
        #expect(text.hasPrefix("NOAUTH"))
        let badDatabase = thrown { _ = try open("redis://:\(encoded)@127.0.0.1:\(server.port)/99") }
        #expect(badDatabase?.status == .backendError)
    }

    @Test func unixSocketWithPassword() throws {
        let directory = try makeTemporaryDirectory(prefix: "ck-conn-unix")
        defer { removeTree(directory) }
        let path = "\(directory)/redis.sock"
        let server = try RedisServerProcess(
            arguments: ["--unixsocket", path, "--unixsocketperm", "700", "--requirepass", "sockpw"], waitForUnixSocket: path)
        _ = server
        let connection = try open("unix://:sockpw@\(path)?db=2")
        defer { connection.close() }
        #expect(try connection.call(["PING"], limits: .small, deadline: soon()) == .simple("PONG"))
        let bare = try open(path)
        defer { bare.close() }
        #expect(try bare.call(["AUTH", "sockpw"], limits: .small, deadline: soon()) == .simple("OK"))
        #expect(thrown { _ = try open("unix://\(directory)/absent.sock") }?.status == .backendUnavailable)
    }

    @Test func subscriberIdleIsNilAndMessagesArrive() throws {
        let server = try RedisServerProcess()
        let subscriber = try open(server.url)
        defer { subscriber.close() }
        try subscriber.send(["SUBSCRIBE", "events"], deadline: soon())
        let confirmation = try subscriber.readReply(limits: .small, deadline: soon())
        #expect(confirmation == .array([.bulk(Array("subscribe".utf8)), .bulk(Array("events".utf8)), .integer(1)]))
        let idle = timed { try subscriber.readReply(limits: .small, deadline: .after(milliseconds: 150)) }
        #expect(try idle.result.get() == nil)
        #expect(idle.milliseconds >= 140 && idle.milliseconds < 1_500)
        #expect(subscriber.isReusable)
        let publisher = try open(server.url)
        defer { publisher.close() }
        _ = try publisher.call(["PUBLISH", "events", "one"], limits: .small, deadline: soon())
        _ = try publisher.call(["PUBLISH", "events", "two"], limits: .small, deadline: soon())
        let limits = ReplyLimits.subscriberMessage(maxPayloadBytes: 4_096)
        #expect(try subscriber.readReply(limits: limits, deadline: soon())
            == .array([.bulk(Array("message".utf8)), .bulk(Array("events".utf8)), .bulk(Array("one".utf8))]))
        #expect(try subscriber.readReply(limits: limits, deadline: soon())
            == .array([.bulk(Array("message".utf8)), .bulk(Array("events".utf8)), .bulk(Array("two".utf8))]))
        // A message over the event cap drops the subscriber's connection.
        _ = try publisher.call(["PUBLISH", "events", .bytes([UInt8](repeating: 120, count: 8_192))], limits: .small, deadline: soon())
        let refused = thrown { _ = try subscriber.readReply(limits: limits, deadline: soon()) }
        #expect(refused?.status == .replyTooLarge)
        #expect(!subscriber.isReusable)
    }

    @Test func serverTextIsEscaped() throws {
        let server = try RedisServerProcess()
        let connection = try open(server.url)
        defer { connection.close() }
        let reply = try connection.call(["EVAL", "return redis.error_reply('bad\\27[31m\\tline')", "0"], limits: .small, deadline: soon())
        guard case .error(let text) = reply else { throw TestFailure("expected an error, got \(reply)") }
        #expect(text.contains("bad\\x1b[31m\\x09line"), "\(text)")
        #expect(!text.contains("\u{1b}"))
    }

    @Test func refusedAndClosedServersAreUnavailable() throws {
        let port = try freeLoopbackPort()
        let timing = timed { try open("redis://127.0.0.1:\(port)") }
        guard case .failure(let error as CachekitError) = timing.result else { throw TestFailure("connect to a closed port succeeded") }
        #expect(error.status == .backendUnavailable)
        #expect(error.message.contains("127.0.0.1:\(port)"))
        #expect(timing.milliseconds < 1_000)

        let server = try RedisServerProcess()
        let connection = try open(server.url)
        server.stop()
        let afterStop = thrown { _ = try connection.call(["PING"], limits: .small, deadline: soon()) }
        #expect(afterStop?.status == .backendUnavailable)
        #expect(!connection.isReusable)
    }

    @Test func abandonAfterForkClosesOnlyTheDescriptor() throws {
        let server = try RedisServerProcess()
        let connection = try open(server.url)
        connection.abandonAfterFork()
        #expect(!connection.isReusable)
        #expect(thrown { _ = try connection.call(["PING"], limits: .small, deadline: soon()) }?.status == .backendUnavailable)
        connection.close()  // a no-op now
    }
}
