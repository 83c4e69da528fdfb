import Testing
@testable import CachekitCore

private func password(_ url: RedisURL) -> String? {
    url.password.map { secret in secret.withUnsafeBytes { String(decoding: $0, as: UTF8.self) } }
}

private func refusal(_ text: String) -> CachekitError? {
    do {
        _ = try RedisURL.parse(text)
        return nil
    } catch {
        return error
    }
}

@Suite struct RedisURLTests {
    @Test func plainURLWithEverything() throws {
        let url = try RedisURL.parse("redis://alice:s%40cret@Cache.Example.COM:6380/3")
        #expect(url.target == .tcp(RedisHostPort(host: "cache.example.com", port: 6380)))
        #expect(url.username == "alice")
        #expect(password(url) == "s@cret")
        #expect(url.database == 3)
        #expect(url.tls == nil)
    }

    @Test func defaultsAsRedisPy() throws {
        let url = try RedisURL.parse("redis://")
        #expect(url.target == .tcp(RedisHostPort(host: "localhost", port: 6379)))
        #expect(url.database == 0 && url.username == nil && url.password == nil)
        #expect(try RedisURL.parse("redis://h/").database == 0)
        #expect(try RedisURL.parse("redis://h:1").target == .tcp(RedisHostPort(host: "h", port: 1)))
    }

    /// redis-py (urlparse) reads a userinfo without ':' as the username, with an empty password.
    @Test func userinfoWithoutColonIsTheUsername() throws {
        let url = try RedisURL.parse("redis://pw@127.0.0.1:7000/0")
        #expect(url.username == "pw")
        #expect(url.password == nil)
        let onlyPassword = try RedisURL.parse("redis://:pw@127.0.0.1:7000/0")
        #expect(onlyPassword.username == nil)
        #expect(password(onlyPassword) == "pw")
    }

    @Test func userinfoSplitsAtLastAtAndFirstColon() throws {
        let url = try RedisURL.parse("redis://us%3Aer:pa:ss@wo@rd@host:7001")
        #expect(url.username == "us:er")
        #expect(password(url) == "pa:ss@wo@rd")
        #expect(url.target == .tcp(RedisHostPort(host: "host", port: 7001)))
    }

    @Test func queryDbWinsOverPathDb() throws {
        #expect(try RedisURL.parse("redis://h/2?db=5").database == 5)
        #expect(try RedisURL.parse("redis://h/2?db=").database == 2)  // blank values are dropped, as parse_qs does
        #expect(try RedisURL.parse("redis://h/2?db=7&db=8").database == 7)  // the first wins
    }

    @Test func queryPasswordAndUsernameYieldToUserinfo() throws {
        let fromQuery = try RedisURL.parse("redis://h?password=a%26b+c&username=bob")
        #expect(password(fromQuery) == "a&b c")
        #expect(fromQuery.username == "bob")
        let both = try RedisURL.parse("redis://u:p@h?password=other&username=x")
        #expect(password(both) == "p")
        #expect(both.username == "u")
    }

    @Test func ipv6Hosts() throws {
        #expect(try RedisURL.parse("redis://[::1]:7002/1").target == .tcp(RedisHostPort(host: "::1", port: 7002)))
        #expect(try RedisURL.parse("redis://[fe80::1]").target == .tcp(RedisHostPort(host: "fe80::1", port: 6379)))
        #expect(refusal("redis://[::1")?.status == .invalidConfig)
        #expect(refusal("redis://[::1]x")?.status == .invalidConfig)
    }

    @Test func unixForms() throws {
        #expect(try RedisURL.parse("/var/run/redis.sock").target == .unix(path: "/var/run/redis.sock"))
        let url = try RedisURL.parse("unix://:pw@/tmp/r%20s.sock?db=4")
        #expect(url.target == .unix(path: "/tmp/r s.sock"))
        #expect(password(url) == "pw")
        #expect(url.database == 4)
        #expect(refusal("unix://host/tmp/x.sock")?.status == .invalidConfig)
        #expect(refusal("unix://")?.status == .invalidConfig)
    }

    @Test func tlsParameters() throws {
        let url = try RedisURL.parse("rediss://h:6390/0?ssl_ca_certs=/path/ca.crt&ssl_cert_reqs=required")
        #expect(url.tls?.caCertificatesPath == "/path/ca.crt")
        #expect(url.tls?.certificateRequirement == .required)
        #expect(url.tls?.checksHostname == true)
        let relaxed = try RedisURL.parse("rediss://h?ssl_cert_reqs=none")
        #expect(relaxed.tls?.verifiesPeer == false)
        #expect(relaxed.tls?.checksHostname == false)  // redis-py turns the host check off with none
        let mutual = try RedisURL.parse("rediss://h?ssl_certfile=/c.pem&ssl_keyfile=/k.pem&ssl_check_hostname=False")
        #expect(mutual.tls?.certificatePath == "/c.pem")
        #expect(mutual.tls?.keyPath == "/k.pem")
        #expect(mutual.tls?.checkHostname == false)
        #expect(try RedisURL.parse("rediss://h").tls == TLSSettings())
        #expect(try RedisURL.parse("rediss://h?ssl_cert_reqs=optional").tls?.verifiesPeer == true)
    }

    @Test func malformedTLSValuesAreRefusedByName() {
        let badRequirement = refusal("rediss://:hunter2@h?ssl_cert_reqs=sometimes")
        #expect(badRequirement?.status == .invalidConfig)
        #expect(badRequirement?.message.contains("ssl_cert_reqs") == true)
        #expect(badRequirement?.message.contains("hunter2") == false)
        #expect(refusal("rediss://h?ssl_check_hostname=maybe")?.message.contains("ssl_check_hostname") == true)
        // TLS parameters on a plaintext URL would be ignored silently otherwise.
        #expect(refusal("redis://h?ssl_ca_certs=/ca.crt")?.message.contains("rediss://") == true)
    }

    @Test func sentinelForms() throws {
        let url = try RedisURL.parse("redis+sentinel://u:p@s1:26380,s2,[::1]:26381/mymaster/2")
        #expect(url.target == .sentinel(nodes: [
            RedisHostPort(host: "s1", port: 26380), RedisHostPort(host: "s2", port: 26379), RedisHostPort(host: "::1", port: 26381),
        ], serviceName: "mymaster"))
        #expect(url.database == 2 && url.username == "u" && password(url) == "p")
        #expect(url.tls == nil)
        let secure = try RedisURL.parse("rediss+sentinel://s1/cache?ssl_ca_certs=/ca.crt")
        #expect(secure.tls?.caCertificatesPath == "/ca.crt")
        #expect(secure.database == 0)
        #expect(refusal("redis+sentinel://s1:26379")?.message.contains("service name") == true)
        #expect(refusal("redis+sentinel://s1,,s2/m")?.status == .invalidConfig)
        #expect(refusal("redis+sentinel://s1/m/0/extra")?.status == .invalidConfig)
        #expect(refusal("redis+sentinel://s1/m/x")?.status == .invalidConfig)
    }

    @Test func hostileAndMalformedForms() {
        let cases = [
            "http://h", "redis:/h", "h:6379", "redis://h:0", "redis://h:65536", "redis://h:-1", "redis://h:12a",
            "redis://h:99999999999999999999", "redis://h/abc", "redis://h/-1", "redis://h/1/2", "redis://h/ 1",
            "redis://h?db=x", "redis://h?db=-2", "redis://h?db=99999999999", "redis://h?unknown=1", "redis://h?justname",
            "redis://h\r\n/0", "redis://h /0", "redis://u:p%zz@h", "redis://u:p%4@h", "redis://%ff%fe@h",
            "redis://h%2Fx", "redis://u%0a:p@h", "redis://h?socket_timeout=abc", "redis://h?socket_timeout=-1",
            "rediss://h?ssl_cert_reqs=", "redis+cluster://h/1", "redis+clustr://h",
        ]
        for text in cases where text != "rediss://h?ssl_cert_reqs=" {
            #expect(refusal(text)?.status == .invalidConfig, "\(text.debugDescription) should be refused")
        }
        // A blank value is dropped, as parse_qs does.
        #expect(refusal("rediss://h?ssl_cert_reqs=") == nil)
    }

    @Test func messagesNeverCarryThePassword() {
        let secret = "Sup3rSecretPw"
        for text in [
            "redis://user:\(secret)@h:0", "redis://:\(secret)@h/x", "redis://:\(secret)@h?bogus=1",
            "rediss://:\(secret)@h?ssl_cert_reqs=bad", "redis://:\(secret)%zz@h", "redis://:\(secret)@h?\(secret)",
        ] {
            let error = refusal(text)
            #expect(error != nil)
            #expect(error?.message.contains(secret) == false, "\(error?.message ?? "")")
        }
        let url = try? RedisURL.parse("rediss://bob:\(secret)@h:1/2")
        #expect(url?.redactedDescription == "rediss://h:1 db 2 user bob (with password)")
    }

    @Test func timeoutsInSeconds() throws {
        let url = try RedisURL.parse("redis://h?socket_timeout=0.25&socket_connect_timeout=2")
        #expect(url.socketTimeoutMilliseconds == 250)
        #expect(url.socketConnectTimeoutMilliseconds == 2000)
    }
}
