import CachekitCore
import Glibc
import Testing
@testable import CachekitRedis

private func connect(_ server: FaultServer, tls: TLSContext? = nil, timeoutMs: Int = 2_000) throws(CachekitError) -> RedisConnection {
    var options = RedisConnectionOptions(address: .tcp(RedisHostPort(host: "127.0.0.1", port: server.port)), tls: tls)
    options.tlsServerName = "127.0.0.1"
    return try RedisConnection.open(options, deadline: .after(milliseconds: timeoutMs))
}

/// A generous allowance over a deadline for a loaded 2-core machine: the bound checked is
/// "ends near the deadline", not "ends after len x 100 ms".
private let marginMs = 700.0

@Suite(.serialized) struct FaultServerTests {
    @Test func closesMidReply() throws {
        let server = try FaultServer { connection, _ in
            FaultServer.readRequest(connection)
            FaultServer.write(connection, Array("$10\r\nabc".utf8))
        }
        defer { server.stop() }
        let connection = try connect(server)
        let error = thrown { _ = try connection.call(["GET", "k"], limits: .small, deadline: .after(milliseconds: 2_000)) }
        #expect(error?.status == .backendUnavailable)
        #expect(!connection.isReusable)
    }

    @Test func neverAnswers() throws {
        let server = try FaultServer { connection, server in FaultServer.waitForPeerClose(connection, server: server) }
        defer { server.stop() }
        let connection = try connect(server)
        let timing = timed { try connection.call(["GET", "k"], limits: .small, deadline: .after(milliseconds: 300)) }
        guard case .failure(let error as CachekitError) = timing.result else { throw TestFailure("a silent server answered") }
        #expect(error.status == .backendTimeout)
        #expect(timing.milliseconds >= 290 && timing.milliseconds < 300 + marginMs)
        #expect(!connection.isReusable)
        connection.close()
    }

    /// One byte every 100 ms: the call's deadline bounds the whole reply, not each read.
    @Test func answersAByteAtATime() throws {
        let reply = Array("$40\r\n\(String(repeating: "z", count: 40))\r\n".utf8)
        let server = try FaultServer { connection, server in
            FaultServer.readRequest(connection)
            for byte in reply where !server.shouldStop {
                guard FaultServer.write(connection, [byte]) == 1 else { return }
                usleep(100_000)
            }
        }
        defer { server.stop() }
        let connection = try connect(server)
        let timing = timed { try connection.call(["GET", "k"], limits: .small, deadline: .after(milliseconds: 500)) }
        guard case .failure(let error as CachekitError) = timing.result else { throw TestFailure("the trickled reply beat the deadline") }
        #expect(error.status == .backendTimeout)
        #expect(timing.milliseconds < 500 + marginMs, "took \(timing.milliseconds) ms against a 500 ms deadline")
        connection.close()
    }

    /// The header alone is read: the 2 GiB body is never buffered (the server manages to push
    /// only what the socket buffers hold before the connection is dropped).
    @Test func refusesAClaimed2GiBBulk() throws {
        let pushed = Locked(0)
        let server = try FaultServer { connection, _ in
            FaultServer.readRequest(connection)
            guard FaultServer.write(connection, Array("$2147483648\r\n".utf8)) > 0 else { return }
            let chunk = [UInt8](repeating: 120, count: 1_048_576)
            for _ in 0..<256 {
                let sent = FaultServer.write(connection, chunk)
                pushed.withLock { $0 += sent }
                if sent < chunk.count { return }
            }
        }
        defer { server.stop() }
        let connection = try connect(server)
        let timing = timed { try connection.call(["GET", "k"], limits: .value(maxValueSize: 1_048_576), deadline: .after(milliseconds: 5_000)) }
        guard case .failure(let error as CachekitError) = timing.result else { throw TestFailure("a 2 GiB bulk was accepted") }
        #expect(error.status == .replyTooLarge)
        #expect(timing.milliseconds < 1_000)
        #expect(!connection.isReusable)
        server.stop()
        #expect(pushed.withLock { $0 } < 64 * 1_048_576, "the client kept reading the body")
    }

    @Test func refusesATwentyMillionElementArray() throws {
        let server = try FaultServer { connection, server in
            FaultServer.readRequest(connection)
            FaultServer.write(connection, Array("*20000000\r\n".utf8) + [UInt8](repeating: 0x3a, count: 64))
            FaultServer.waitForPeerClose(connection, server: server, milliseconds: 2_000)
        }
        defer { server.stop() }
        let connection = try connect(server)
        let error = thrown { _ = try connection.call(["SCAN", "0"], limits: .scanPage, deadline: .after(milliseconds: 2_000)) }
        #expect(error?.status == .replyTooLarge)
        #expect(error?.message.contains("100000") == true)
    }

    /// A subscriber's idle wait is nil, but a message begun and not finished is a failure.
    @Test func subscriberPartialMessageFails() throws {
        let server = try FaultServer { connection, server in
            usleep(200_000)
            FaultServer.write(connection, Array("*3\r\n$7\r\nmessage\r\n$2\r\nev".utf8))
            FaultServer.waitForPeerClose(connection, server: server, milliseconds: 3_000)
        }
        defer { server.stop() }
        let connection = try connect(server)
        #expect(try connection.readReply(limits: .small, deadline: .after(milliseconds: 100)) == nil)
        #expect(connection.isReusable)
        let timing = timed { try connection.readReply(limits: .small, deadline: .after(milliseconds: 600)) }
        guard case .failure(let error as CachekitError) = timing.result else { throw TestFailure("a partial message was accepted") }
        #expect(error.status == .backendTimeout)
        #expect(timing.milliseconds < 600 + marginMs)
    }

    /// Accepts TCP and never speaks TLS: the handshake ends at the connect deadline.
    @Test func tlsHandshakeThatStalls() throws {
        let server = try FaultServer { connection, server in FaultServer.waitForPeerClose(connection, server: server) }
        defer { server.stop() }
        var settings = TLSSettings()
        settings.certificateRequirement = .none
        let tls = try TLSContext(settings: settings)
        let timing = timed { try connect(server, tls: tls, timeoutMs: 400) }
        guard case .failure(let error as CachekitError) = timing.result else { throw TestFailure("a stalled handshake succeeded") }
        #expect(error.status == .backendTimeout)
        #expect(error.message.contains("TLS handshake"))
        #expect(timing.milliseconds >= 390 && timing.milliseconds < 400 + marginMs)
    }
}
