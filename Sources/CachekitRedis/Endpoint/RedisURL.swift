import CachekitCore

/// A host and TCP port, as a URL names them (brackets of an IPv6 literal removed).
public struct RedisHostPort: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// The one Redis URL grammar of the library: `redis://`, `rediss://`, `unix://`, a bare socket
/// path, `redis+sentinel://` and `rediss+sentinel://`.
///
/// Userinfo, host, port and db are read as redis-py 8.1.0's `parse_url` (urllib's `urlparse`)
/// reads them, so one `CACHEKIT_REDIS_URL` means the same to cachekit-py and to this library:
/// the userinfo splits at its last `@`, then at its first `:`; `redis://pw@host` is the
/// *username* `pw` with an empty password (redis-py sends `AUTH pw ""`); `redis://:pw@host` is
/// the password alone; both are percent-decoded; the host is lower-cased; `?db=` wins over the
/// path's db. Where redis-py silently ignores or misreads a value (`/abc` as db 0, `/1/2` as
/// db 12, `ssl_check_hostname=maybe` as true, a query parameter it does not know), this parser
/// refuses it with `.invalidConfig`: a wrong URL fails at configuration, not at the first call.
public struct RedisURL: Sendable {
    public enum Target: Sendable, Equatable {
        case tcp(RedisHostPort)
        case unix(path: String)
        /// Sentinels to ask for the master of `serviceName` (`SENTINEL get-master-addr-by-name`).
        case sentinel(nodes: [RedisHostPort], serviceName: String)
    }

    public var target: Target
    /// Sent as `AUTH username password` when set, `AUTH password` otherwise.
    public var username: String?
    /// Wiped when the last copy of the URL is released (`SecretBytes`).
    public var password: SecretBytes?
    public var database: Int = 0
    /// Non-nil for `rediss://` and `rediss+sentinel://`: TLS is then required, never optional.
    public var tls: TLSSettings?
    /// redis-py's `socket_timeout` / `socket_connect_timeout` (seconds in the URL), when given.
    public var socketTimeoutMilliseconds: Int?
    public var socketConnectTimeoutMilliseconds: Int?

    public static let defaultPort = 6379
    public static let defaultSentinelPort = 26379

    public init(target: Target) { self.target = target }

    /// Where and how, never with credentials: for messages, logs and health output.
    public var redactedDescription: String {
        var text: String
        switch target {
        case .tcp(let address): text = "\(tls == nil ? "redis" : "rediss")://\(address)"
        case .unix(let path): text = "unix://\(escapedForMessage(path))"
        case .sentinel(let nodes, let service):
            text = "\(tls == nil ? "redis" : "rediss")+sentinel://\(nodes.map(\.description).joined(separator: ","))/\(escapedForMessage(service))"
        }
        text += " db \(database)"
        if let username { text += " user \(escapedForMessage(username))" }
        if password != nil { text += " (with password)" }
        return text
    }

    public static func parse(_ text: String) throws(CachekitError) -> RedisURL {
        let bytes = Array(text.utf8)
        // urlparse strips and drops such bytes silently; a URL carrying them is a mistake or an attack.
        guard !bytes.contains(where: { $0 <= 0x20 || $0 == 0x7f }) else {
            throw CachekitError(.invalidConfig, "redis URL contains a space or control character")
        }
        if bytes.first == UInt8(ascii: "/") {
            return RedisURL(target: .unix(path: text))
        }
        guard let schemeEnd = schemeSeparator(in: text) else {
            throw CachekitError(.invalidConfig,
                "redis URL must start with redis://, rediss://, unix://, redis+sentinel://, rediss+sentinel:// or be a socket path")
        }
        let scheme = text[..<schemeEnd].lowercased()
        var rest = text[text.utf8.index(schemeEnd, offsetBy: 3)...]
        if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }
        var query: Substring = ""
        if let mark = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: mark)...]
            rest = rest[..<mark]
        }
        let netloc: Substring
        let path: Substring
        if let slash = rest.firstIndex(of: "/") {
            netloc = rest[..<slash]
            path = rest[slash...]
        } else {
            netloc = rest
            path = ""
        }
        var hostPart = netloc
        var url: RedisURL
        var credentials: (username: String?, password: SecretBytes?) = (nil, nil)
        if let at = netloc.lastIndex(of: "@") {
            credentials = try parseUserinfo(netloc[..<at])
            hostPart = netloc[netloc.index(after: at)...]
        }
        switch scheme {
        case "redis", "rediss":
            url = RedisURL(target: .tcp(try parseHostPort(hostPart, defaultPort: defaultPort, allowEmptyHost: true)))
            url.database = try parsePathDatabase(path)
        case "unix":
            guard hostPart.isEmpty else {
                throw CachekitError(.invalidConfig, "redis URL: unix:// takes a socket path, not a host (unix:///path/to/redis.sock)")
            }
            guard path.count > 1 else { throw CachekitError(.invalidConfig, "redis URL: unix:// needs a socket path") }
            url = RedisURL(target: .unix(path: try percentDecodedText(path, what: "socket path")))
        case "redis+sentinel", "rediss+sentinel":
            var nodes: [RedisHostPort] = []
            for node in hostPart.split(separator: ",", omittingEmptySubsequences: false) {
                nodes.append(try parseHostPort(node, defaultPort: defaultSentinelPort, allowEmptyHost: false))
            }
            let segments = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
            guard let service = segments.first, !service.isEmpty else {
                throw CachekitError(.invalidConfig, "redis URL: redis+sentinel:// needs a service name (redis+sentinel://host:26379/mymaster/0)")
            }
            guard segments.count <= 2 else {
                throw CachekitError(.invalidConfig, "redis URL: a sentinel URL's path is /SERVICE_NAME or /SERVICE_NAME/db")
            }
            url = RedisURL(target: .sentinel(nodes: nodes, serviceName: try percentDecodedText(service, what: "service name")))
            if segments.count == 2 { url.database = try parseDatabase(segments[segments.index(after: segments.startIndex)], what: "db in the path") }
        default:
            throw CachekitError(.invalidConfig,
                "redis URL scheme '\(escapedForMessage(String(scheme.prefix(32))))' is not one of redis, rediss, unix, redis+sentinel, rediss+sentinel")
        }
        url.username = credentials.username
        url.password = credentials.password
        if scheme.hasPrefix("rediss") { url.tls = TLSSettings() }
        try url.applyQuery(query)
        return url
    }

    /// Where "://" starts, if the text before it could be a scheme.
    private static func schemeSeparator(in text: String) -> String.Index? {
        let utf8 = text.utf8
        var index = utf8.startIndex
        while index != utf8.endIndex {
            let byte = utf8[index]
            if byte == UInt8(ascii: ":") {
                let rest = utf8[index...]
                return rest.starts(with: "://".utf8) && index != utf8.startIndex ? index : nil
            }
            let isSchemeByte = (byte >= 0x61 && byte <= 0x7a) || (byte >= 0x41 && byte <= 0x5a)
                || (byte >= 0x30 && byte <= 0x39) || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
            guard isSchemeByte else { return nil }
            index = utf8.index(after: index)
        }
        return nil
    }

    /// urlparse: username before the first ':', password after it; empty ones count as absent.
    private static func parseUserinfo(_ userinfo: Substring) throws(CachekitError) -> (String?, SecretBytes?) {
        guard let colon = userinfo.firstIndex(of: ":") else {
            // redis-py: `pw@host` is a username with an empty password.
            return (userinfo.isEmpty ? nil : try percentDecodedText(userinfo, what: "username"), nil)
        }
        let user = userinfo[..<colon]
        let secret = userinfo[userinfo.index(after: colon)...]
        return (user.isEmpty ? nil : try percentDecodedText(user, what: "username"),
                secret.isEmpty ? nil : try percentDecodedSecret(secret))
    }

    private static func parseHostPort(
        _ text: Substring, defaultPort: Int, allowEmptyHost: Bool
    ) throws(CachekitError) -> RedisHostPort {
        var host: Substring
        var portText: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                throw CachekitError(.invalidConfig, "redis URL: IPv6 host is missing its ']'")
            }
            host = text[text.index(after: text.startIndex)..<close]
            let after = text[text.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw CachekitError(.invalidConfig, "redis URL: unexpected text after the IPv6 host") }
                portText = after.dropFirst()
            }
        } else if let colon = text.firstIndex(of: ":") {
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        } else {
            host = text
        }
        var port = defaultPort
        if let portText, !portText.isEmpty {
            // urlparse takes ASCII digits 0..65535; redis-py then reads port 0 as "no port".
            // Port 0 cannot be connected to, so it is refused here.
            guard portText.count <= 5, portText.allSatisfy({ $0.isASCII && $0.isNumber }),
                  let value = Int(portText), value >= 1, value <= 65535
            else { throw CachekitError(.invalidConfig, "redis URL: port must be a number from 1 to 65535") }
            port = value
        }
        if host.isEmpty {
            guard allowEmptyHost else { throw CachekitError(.invalidConfig, "redis URL: a sentinel address has no host") }
            return RedisHostPort(host: "localhost", port: port)
        }
        let decoded = try percentDecodedText(host, what: "host").lowercased()
        guard !decoded.contains(where: { "/@?#[]".contains($0) }), !decoded.isEmpty else {
            throw CachekitError(.invalidConfig, "redis URL: the host contains a character a host name cannot have")
        }
        return RedisHostPort(host: decoded, port: port)
    }

    /// redis-py reads `/N` as db N; an empty path or `/` leaves db 0.
    private static func parsePathDatabase(_ path: Substring) throws(CachekitError) -> Int {
        guard path.count > 1 else { return 0 }
        return try parseDatabase(path.dropFirst(), what: "db in the path")
    }

    private static func parseDatabase(_ text: Substring, what: String) throws(CachekitError) -> Int {
        guard !text.isEmpty, text.count <= 10, text.allSatisfy({ $0.isASCII && $0.isNumber }),
              let value = Int(text), value <= Int(Int32.max)
        else { throw CachekitError(.invalidConfig, "redis URL: \(what) must be a non-negative number") }
        return value
    }

    /// parse_qs: `&`-separated `name=value`, `+` as space, percent-decoded, blank values
    /// dropped, the first of repeated names wins.
    private mutating func applyQuery(_ query: Substring) throws(CachekitError) {
        var seen = Set<String>()
        for item in query.split(separator: "&") {
            guard let equals = item.firstIndex(of: "=") else {
                // Not echoed: a stray item could be a misplaced password.
                throw CachekitError(.invalidConfig, "redis URL: a query item has no '=' and value")
            }
            let name = try Self.percentDecodedText(item[..<equals], what: "query parameter name", plusIsSpace: true)
            let rawValue = item[item.index(after: equals)...]
            guard !rawValue.isEmpty, seen.insert(name).inserted else { continue }
            if name == "password" {
                // Userinfo wins over the query, as in redis-py (its kwargs are overwritten).
                if password == nil { password = try Self.percentDecodedSecret(rawValue, plusIsSpace: true) }
                continue
            }
            let value = try Self.percentDecodedText(rawValue, what: "value of '\(parameterNameForMessage(name))'", plusIsSpace: true)
            try apply(name: name, value: value)
        }
    }

    private mutating func apply(name: String, value: String) throws(CachekitError) {
        switch name {
        case "db":
            database = try Self.parseDatabase(Substring(value), what: "query parameter 'db'")
        case "username":
            if username == nil { username = value }
        case "socket_timeout":
            socketTimeoutMilliseconds = try Self.parseSeconds(value, name: name)
        case "socket_connect_timeout":
            socketConnectTimeoutMilliseconds = try Self.parseSeconds(value, name: name)
        case "ssl_cert_reqs", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_check_hostname":
            guard var settings = tls else {
                throw CachekitError(.invalidConfig, "redis URL: query parameter '\(name)' needs a rediss:// URL")
            }
            try settings.apply(name: name, value: value)
            tls = settings
        default:
            throw CachekitError(.invalidConfig, "redis URL: unknown query parameter '\(parameterNameForMessage(name))'")
        }
    }

    private static func parseSeconds(_ value: String, name: String) throws(CachekitError) -> Int {
        guard let seconds = Double(value), seconds.isFinite, seconds > 0, seconds <= 86_400 else {
            throw CachekitError(.invalidConfig, "redis URL: '\(name)' must be a number of seconds above 0 (at most 86400)")
        }
        return max(1, Int((seconds * 1000).rounded(.up)))
    }

    /// A parameter name as a message may show it: escaped and short, and withheld if it
    /// carries the URL's password (a password pasted in the wrong place).
    private func parameterNameForMessage(_ name: String) -> String {
        let carriesPassword = password.map { secret in
            secret.count > 0 && secret.withUnsafeBytes { needle in
                let haystack = Array(name.utf8)
                guard haystack.count >= needle.count else { return false }
                return (0...(haystack.count &- needle.count)).contains { start in
                    (0..<needle.count).allSatisfy { haystack[start &+ $0] == needle[$0] }
                }
            }
        } ?? false
        return carriesPassword ? "(withheld)" : escapedForMessage(String(name.prefix(32)))
    }

    private static func percentDecodedText(
        _ text: Substring, what: String, plusIsSpace: Bool = false
    ) throws(CachekitError) -> String {
        let bytes = try percentDecodedBytes(text, what: what, plusIsSpace: plusIsSpace)
        guard let decoded = String(validating: bytes, as: UTF8.self) else {
            throw CachekitError(.invalidConfig, "redis URL: the \(what) is not valid UTF-8 once percent-decoded")
        }
        guard !decoded.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) else {
            throw CachekitError(.invalidConfig, "redis URL: the \(what) decodes to a control character")
        }
        return decoded
    }

    /// The password goes straight from the URL into wiped memory; the temporary is cleansed.
    private static func percentDecodedSecret(_ text: Substring, plusIsSpace: Bool = false) throws(CachekitError) -> SecretBytes {
        var bytes = try percentDecodedBytes(text, what: "password", plusIsSpace: plusIsSpace)
        defer { SecretBytes.wipe(&bytes) }
        return try SecretBytes(copying: bytes)
    }

    private static func percentDecodedBytes(
        _ text: Substring, what: String, plusIsSpace: Bool
    ) throws(CachekitError) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next().flatMap(hexDigitValue), let low = iterator.next().flatMap(hexDigitValue) else {
                    SecretBytes.wipe(&out)
                    throw CachekitError(.invalidConfig, "redis URL: the \(what) has a malformed percent escape (write '%' as %25)")
                }
                out.append(high << 4 | low)
            } else if plusIsSpace && byte == UInt8(ascii: "+") {
                out.append(0x20)
            } else {
                out.append(byte)
            }
        }
        return out
    }

    private static func hexDigitValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c &- UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c &- UInt8(ascii: "a") &+ 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c &- UInt8(ascii: "A") &+ 10
        default: return nil
        }
    }
}
