import CachekitCore
import Glibc
import Testing
@testable import CachekitRedis

private func open(_ url: String, serverName: String? = nil, timeoutMs: Int = 3_000) throws(CachekitError) -> RedisConnection {
    var options = try RedisConnectionOptions(url: try RedisURL.parse(url))
    if let serverName { options.tlsServerName = serverName }
    return try RedisConnection.open(options, deadline: .after(milliseconds: timeoutMs))
}

private func roundTrip(_ connection: RedisConnection) throws {
    let value = [UInt8](repeating: 7, count: 300_000)
    #expect(try connection.call(["SET", "tls-key", .bytes(value)], limits: .small, deadline: .after(milliseconds: 3_000)) == .simple("OK"))
    #expect(try connection.call(["GET", "tls-key"], limits: .value(maxValueSize: value.count), deadline: .after(milliseconds: 3_000)) == .bulk(value))
}

@Suite(.serialized) struct TLSConnectionTests {
    let certificates: TestCertificates

    init() throws { certificates = try TestCertificates() }

    @Test func verifiedByTheGivenCA() throws {
        let server = try RedisServerProcess(
            arguments: certificates.serverArguments(authClients: "no") + ["--requirepass", "tlspw", "--bind", "127.0.0.1", "127.0.0.2"], tls: true)
        let query = "ssl_ca_certs=\(certificates.caCertificate)&ssl_cert_reqs=required"
        for host in ["127.0.0.1", "localhost"] {
            let connection = try open("rediss://:tlspw@\(host):\(server.port)/2?\(query)")
            try roundTrip(connection)
            connection.close()
        }
        // Pipelined over TLS, with one deadline for the batch.
        let connection = try open("rediss://:tlspw@127.0.0.1:\(server.port)/0?\(query)")
        defer { connection.close() }
        let replies = try connection.pipeline((0..<50).map { ["INCR", .text("n\($0 % 5)")] }, limits: .small, deadline: .after(milliseconds: 3_000))
        #expect(replies.count == 50 && replies.last == .integer(10))
        // The IP the certificate does not name, and a name it does not carry.
        let wrongIP = thrown { _ = try open("rediss://:tlspw@127.0.0.2:\(server.port)?\(query)") }
        #expect(wrongIP?.status == .tls, "\(String(describing: wrongIP))")
        let wrongName = thrown { _ = try open("rediss://:tlspw@127.0.0.1:\(server.port)?\(query)", serverName: "elsewhere.example") }
        #expect(wrongName?.status == .tls)
        #expect(wrongName?.message.contains("tlspw") == false)
        // Unless the host check is turned off.
        let unchecked = try open("rediss://:tlspw@127.0.0.2:\(server.port)?\(query)&ssl_check_hostname=false")
        try roundTrip(unchecked)
        unchecked.close()
    }

    @Test func wrongCAAndSystemStoreFail() throws {
        let server = try RedisServerProcess(arguments: certificates.serverArguments(authClients: "no"), tls: true)
        let timing = timed { try open("rediss://127.0.0.1:\(server.port)?ssl_ca_certs=\(certificates.otherCACertificate)", timeoutMs: 2_000) }
        guard case .failure(let error as CachekitError) = timing.result else { throw TestFailure("a certificate from another CA was trusted") }
        #expect(error.status == .tls)
        #expect(error.message.contains("certificate"), "\(error.message)")
        #expect(timing.milliseconds < 2_000)
        // The system store does not hold the test CA either.
        #expect(thrown { _ = try open("rediss://127.0.0.1:\(server.port)") }?.status == .tls)
        // Only when asked: no verification at all.
        let unverified = try open("rediss://127.0.0.1:\(server.port)?ssl_cert_reqs=none")
        try roundTrip(unverified)
        unverified.close()
    }

    @Test func mutualTLS() throws {
        let server = try RedisServerProcess(arguments: certificates.serverArguments(authClients: "yes"), tls: true)
        let base = "rediss://localhost:\(server.port)?ssl_ca_certs=\(certificates.caCertificate)"
        let withoutCertificate = thrown { _ = try open(base) }
        #expect(withoutCertificate?.status == .tls, "\(String(describing: withoutCertificate))")
        let connection = try open("\(base)&ssl_certfile=\(certificates.clientCertificate)&ssl_keyfile=\(certificates.clientKey)")
        try roundTrip(connection)
        connection.close()
        let missingKey = thrown { _ = try open("\(base)&ssl_certfile=\(certificates.clientCertificate)&ssl_keyfile=/nonexistent.key") }
        #expect(missingKey?.status == .invalidConfig)
        #expect(missingKey?.message.contains("ssl_keyfile") == true)

        let optional = try RedisServerProcess(arguments: certificates.serverArguments(authClients: "optional"), tls: true)
        let anonymous = try open("rediss://localhost:\(optional.port)?ssl_ca_certs=\(certificates.caCertificate)")
        try roundTrip(anonymous)
        anonymous.close()
    }

    /// TLS to a plaintext port: never a fallback, a failure within the connect timeout.
    @Test func plaintextServerBehindRediss() throws {
        let server = try RedisServerProcess()
        let timing = timed { try open("rediss://127.0.0.1:\(server.port)?ssl_cert_reqs=none", timeoutMs: 1_000) }
        guard case .failure(let error as CachekitError) = timing.result else { throw TestFailure("TLS to a plaintext port succeeded") }
        #expect(error.status == .tls || error.status == .backendTimeout, "\(error)")
        #expect(timing.milliseconds < 1_700)
    }

    @Test func contextsAreSharedPerSettings() throws {
        var settings = TLSSettings()
        settings.caCertificatesPath = certificates.caCertificate
        let first = try TLSContext.shared(for: settings)
        let second = try TLSContext.shared(for: settings)
        #expect(first === second)
        settings.checkHostname = false
        #expect(try TLSContext.shared(for: settings) !== first)
        settings.caCertificatesPath = "/nonexistent/ca.crt"
        #expect(thrown { _ = try TLSContext.shared(for: settings) }?.status == .invalidConfig)
    }
}

/// fork() is unavailable to Swift code by name; the tests reach it through the C library.
private func forkProcess() -> pid_t {
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "fork") else { return -1 }
    return unsafeBitCast(symbol, to: (@convention(c) () -> pid_t).self)()
}

@Suite(.serialized) struct ForkTests {
    /// A child that lets go of an inherited TLS connection writes nothing to it (no
    /// close_notify): the parent's connection goes on working. A child that closed it politely
    /// would end the parent's session too.
    @Test func childAbandoningATLSConnectionLeavesTheParentsIntact() throws {
        let certificates = try TestCertificates()
        let server = try RedisServerProcess(arguments: certificates.serverArguments(authClients: "no"), tls: true)
        let url = try RedisURL.parse("rediss://localhost:\(server.port)?ssl_ca_certs=\(certificates.caCertificate)")
        let connection = try RedisConnection.open(try RedisConnectionOptions(url: url), deadline: .after(milliseconds: 3_000))
        defer { connection.close() }
        #expect(try connection.call(["SET", "before", "fork"], limits: .small, deadline: .after(milliseconds: 2_000)) == .simple("OK"))
        for politely in [false, true] {
            let child = forkProcess()
            if child == 0 {
                alarm(5)  // a child stuck on a lock another thread held at fork() ends anyway
                if connection.ownerProcess != getpid() {
                    politely ? connection.close() : connection.abandonAfterFork()
                }
                _exit(0)
            }
            #expect(child > 0)
            var status: Int32 = 0
            _ = waitpid(child, &status, 0)
            if politely {
                // The polite child sent close_notify on the shared socket: the parent's session ends.
                let broken = thrown { _ = try connection.call(["GET", "before"], limits: .small, deadline: .after(milliseconds: 2_000)) }
                #expect(broken != nil)
            } else {
                #expect(try connection.call(["GET", "before"], limits: .small, deadline: .after(milliseconds: 2_000)) == .bulk(Array("fork".utf8)))
                #expect(connection.isReusable)
            }
        }
    }
}
