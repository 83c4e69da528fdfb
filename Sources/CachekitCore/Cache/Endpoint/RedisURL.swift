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
/// path, `redis+sentinel://`, `rediss+sentinel://`, `redis+cluster://` and `rediss+cluster://`.
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
        /// Seed nodes of a Redis Cluster, asked for the slot map (db 0 only, as Cluster has no other).
        case cluster(nodes: [RedisHostPort])
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
    /// Cluster only (`read_from_replicas=true`): gets may be answered by replicas, which lag
    /// their primary (asynchronous replication).
    public var readFromReplicas = false

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
        case .cluster(let nodes):
            text = "\(tls == nil ? "redis" : "rediss")+cluster://\(nodes.map(\.description).joined(separator: ","))"
            if readFromReplicas { text += " reading from replicas" }
        }
        text += " db \(database)"
        if let username { text += " user \(escapedForMessage(username))" }
        if password != nil { text += " (with password)" }
        return text
    }

    /// Parses text the caller keeps (the CLI's argument, a test's literal).
    public static func parse(_ text: String) throws(CachekitError) -> RedisURL {
        try withUTF8Bytes(text) { bytes throws(CachekitError) in try parse(bytes: bytes) }
    }

    /// Parses the URL where it lies, without copying it: the password in it is copied once,
    /// percent-decoded, into `SecretBytes`, and every temporary that held it is wiped.
    /// Delimiters are found by byte, as urlparse finds them by code point.
    public static func parse(bytes text: UnsafeRawBufferPointer) throws(CachekitError) -> RedisURL {
        // urlparse strips and drops such bytes silently; a URL carrying them is a mistake or an attack.
        guard !text.contains(where: { $0 <= 0x20 || $0 == 0x7f }) else {
            throw CachekitError(.invalidConfig, "redis URL contains a space or control character")
        }
        guard validUTF8(text) else { throw CachekitError(.invalidConfig, "redis URL is not valid UTF-8") }
        let whole = text[...]
        if whole.first == byte("/") {
            return RedisURL(target: .unix(path: String(decoding: whole, as: UTF8.self)))
        }
        guard let schemeEnd = schemeSeparator(in: whole) else {
            throw CachekitError(.invalidConfig,
                "redis URL must start with redis://, rediss://, unix://, redis+sentinel://, rediss+sentinel://, redis+cluster://, rediss+cluster:// or be a socket path")
        }
        let scheme = String(decoding: whole[..<schemeEnd], as: UTF8.self).lowercased()
        var rest = whole[(schemeEnd &+ 3)...]
        if let hash = rest.firstIndex(of: byte("#")) { rest = rest[..<hash] }
        var query = rest[rest.endIndex...]
        if let mark = rest.firstIndex(of: byte("?")) {
            query = rest[(mark &+ 1)...]
            rest = rest[..<mark]
        }
        let netloc: URLBytes
        let path: URLBytes
        if let slash = rest.firstIndex(of: byte("/")) {
            netloc = rest[..<slash]
            path = rest[slash...]
        } else {
            netloc = rest
            path = rest[rest.endIndex...]
        }
        var hostPart = netloc
        var url: RedisURL
        var credentials: (username: String?, password: SecretBytes?) = (nil, nil)
        if let at = netloc.lastIndex(of: byte("@")) {
            credentials = try parseUserinfo(netloc[..<at])
            hostPart = netloc[(at &+ 1)...]
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
            let nodes: [RedisHostPort]
            nodes = try parseNodeList(hostPart, defaultPort: defaultSentinelPort)
            let segments = path.split(separator: byte("/"), omittingEmptySubsequences: false).dropFirst()
            guard let service = segments.first, !service.isEmpty else {
                throw CachekitError(.invalidConfig, "redis URL: redis+sentinel:// needs a service name (redis+sentinel://host:26379/mymaster/0)")
            }
            guard segments.count <= 2 else {
                throw CachekitError(.invalidConfig, "redis URL: a sentinel URL's path is /SERVICE_NAME or /SERVICE_NAME/db")
            }
            url = RedisURL(target: .sentinel(nodes: nodes, serviceName: try percentDecodedText(service, what: "service name")))
            if segments.count == 2 { url.database = try parseDatabase(segments[segments.index(after: segments.startIndex)], what: "db in the path") }
        case "redis+cluster", "rediss+cluster":
            // Cluster serves db 0 only: any other number would be refused by every node.
            guard path.count <= 1 || path.elementsEqual("/0".utf8) else {
                throw CachekitError(.invalidConfig, "redis URL: a cluster URL's path may only be empty or /0 (Redis Cluster has db 0 only)")
            }
            url = RedisURL(target: .cluster(nodes: try parseNodeList(hostPart, defaultPort: defaultPort)))
        default:
            throw CachekitError(.invalidConfig,
                "redis URL scheme '\(escapedForMessage(String(scheme.prefix(32))))' is not one of redis, rediss, unix, redis+sentinel, rediss+sentinel, redis+cluster, rediss+cluster")
        }
        url.username = credentials.username
        url.password = credentials.password
        if scheme.hasPrefix("rediss") { url.tls = TLSSettings() }
        try url.applyQuery(query)
        if case .cluster = url.target, url.database != 0 {
            throw CachekitError(.invalidConfig, "redis URL: Redis Cluster has db 0 only")
        }
        return url
    }

    /// `host:port,host:port...`: a list of sentinels or cluster seeds, none without a host.
    private static func parseNodeList(_ text: URLBytes, defaultPort: Int) throws(CachekitError) -> [RedisHostPort] {
        var nodes: [RedisHostPort] = []
        for node in text.split(separator: byte(","), omittingEmptySubsequences: false) {
            nodes.append(try parseHostPort(node, defaultPort: defaultPort, allowEmptyHost: false))
        }
        return nodes
    }

    /// A part of the URL text, still in the caller's memory.
    private typealias URLBytes = Slice<UnsafeRawBufferPointer>

    private static func byte(_ character: Unicode.Scalar) -> UInt8 { UInt8(ascii: character) }

    private static func isDigits(_ text: URLBytes) -> Bool {
        text.allSatisfy { $0 >= byte("0") && $0 <= byte("9") }
    }

    /// Where "://" starts, if the text before it could be a scheme.
    private static func schemeSeparator(in text: URLBytes) -> Int? {
        for index in text.indices {
            let character = text[index]
            if character == byte(":") {
                return text[index...].starts(with: "://".utf8) && index != text.startIndex ? index : nil
            }
            let isSchemeByte = (character >= 0x61 && character <= 0x7a) || (character >= 0x41 && character <= 0x5a)
                || (character >= 0x30 && character <= 0x39) || character == byte("+") || character == byte("-") || character == byte(".")
            guard isSchemeByte else { return nil }
        }
        return nil
    }

    /// urlparse: username before the first ':', password after it; empty ones count as absent.
    private static func parseUserinfo(_ userinfo: URLBytes) throws(CachekitError) -> (String?, SecretBytes?) {
        guard let colon = userinfo.firstIndex(of: byte(":")) else {
            // redis-py: `pw@host` is a username with an empty password.
            return (userinfo.isEmpty ? nil : try percentDecodedText(userinfo, what: "username"), nil)
        }
        let user = userinfo[..<colon]
        let secret = userinfo[(colon &+ 1)...]
        return (user.isEmpty ? nil : try percentDecodedText(user, what: "username"),
                secret.isEmpty ? nil : try percentDecodedSecret(secret))
    }

    private static func parseHostPort(
        _ text: URLBytes, defaultPort: Int, allowEmptyHost: Bool
    ) throws(CachekitError) -> RedisHostPort {
        var host: URLBytes
        var portText: URLBytes?
        if text.first == byte("[") {
            guard let close = text.firstIndex(of: byte("]")) else {
                throw CachekitError(.invalidConfig, "redis URL: IPv6 host is missing its ']'")
            }
            host = text[(text.startIndex &+ 1)..<close]
            let after = text[(close &+ 1)...]
            if !after.isEmpty {
                guard after.first == byte(":") else { throw CachekitError(.invalidConfig, "redis URL: unexpected text after the IPv6 host") }
                portText = after.dropFirst()
            }
        } else if let colon = text.firstIndex(of: byte(":")) {
            host = text[..<colon]
            portText = text[(colon &+ 1)...]
        } else {
            host = text
        }
        var port = defaultPort
        if let portText, !portText.isEmpty {
            // urlparse takes ASCII digits 0..65535; redis-py then reads port 0 as "no port".
            // Port 0 cannot be connected to, so it is refused here.
            guard portText.count <= 5, isDigits(portText),
                  let value = Int(String(decoding: portText, as: UTF8.self)), value >= 1, value <= 65535
            else { throw CachekitError(.invalidConfig, "redis URL: port must be a number from 1 to 65535") }
            port = value
        }
        if host.isEmpty {
            guard allowEmptyHost else { throw CachekitError(.invalidConfig, "redis URL: a sentinel or cluster node address has no host") }
            return RedisHostPort(host: "localhost", port: port)
        }
        let decoded = try percentDecodedText(host, what: "host").lowercased()
        guard !decoded.contains(where: { "/@?#[]".contains($0) }), !decoded.isEmpty else {
            throw CachekitError(.invalidConfig, "redis URL: the host contains a character a host name cannot have")
        }
        return RedisHostPort(host: decoded, port: port)
    }

    /// redis-py reads `/N` as db N; an empty path or `/` leaves db 0.
    private static func parsePathDatabase(_ path: URLBytes) throws(CachekitError) -> Int {
        guard path.count > 1 else { return 0 }
        return try parseDatabase(path.dropFirst(), what: "db in the path")
    }

    private static func parseDatabase(_ text: URLBytes, what: String) throws(CachekitError) -> Int {
        guard !text.isEmpty, text.count <= 10, isDigits(text),
              let value = Int(String(decoding: text, as: UTF8.self)), value <= Int(Int32.max)
        else { throw CachekitError(.invalidConfig, "redis URL: \(what) must be a non-negative number") }
        return value
    }

    /// The query parameters this parser knows (a name is compared as bytes, so an unknown one
    /// never becomes a string: it could be a misplaced password).
    private static let queryParameterNames = [
        "db", "username", "password", "socket_timeout", "socket_connect_timeout",
        "ssl_cert_reqs", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_check_hostname",
        "read_from_replicas",
    ]

    /// parse_qs: `&`-separated `name=value`, `+` as space, percent-decoded, blank values
    /// dropped, the first of repeated names wins.
    private mutating func applyQuery(_ query: URLBytes) throws(CachekitError) {
        var seen = Set<String>()
        for item in query.split(separator: Self.byte("&")) {
            guard let equals = item.firstIndex(of: Self.byte("=")) else {
                // Not echoed: a stray item could be a misplaced password.
                throw CachekitError(.invalidConfig, "redis URL: a query item has no '=' and value")
            }
            var nameBytes = try Self.percentDecodedBytes(item[..<equals], what: "query parameter name", plusIsSpace: true)
            defer { SecretBytes.wipe(&nameBytes) }
            let rawValue = item[(equals &+ 1)...]
            try Self.checkDecodedText(nameBytes, what: "query parameter name")
            guard !rawValue.isEmpty else { continue }
            guard let name = Self.queryParameterNames.first(where: { $0.utf8.elementsEqual(nameBytes) }) else {
                throw CachekitError(.invalidConfig, "redis URL: unknown query parameter '\(parameterNameForMessage(nameBytes))'")
            }
            guard seen.insert(name).inserted else { continue }
            if name == "password" {
                // Userinfo wins over the query, as in redis-py (its kwargs are overwritten).
                if password == nil { password = try Self.percentDecodedSecret(rawValue, plusIsSpace: true) }
                continue
            }
            let value = try Self.percentDecodedText(rawValue, what: "value of '\(name)'", plusIsSpace: true)
            try apply(name: name, value: value)
        }
    }

    private mutating func apply(name: String, value: String) throws(CachekitError) {
        switch name {
        case "db":
            database = try withUTF8Bytes(value) { bytes throws(CachekitError) in
                try Self.parseDatabase(bytes[...], what: "query parameter 'db'")
            }
        case "username":
            if username == nil { username = value }
        case "socket_timeout":
            socketTimeoutMilliseconds = try Self.parseSeconds(value, name: name)
        case "socket_connect_timeout":
            socketConnectTimeoutMilliseconds = try Self.parseSeconds(value, name: name)
        case "read_from_replicas":
            guard case .cluster = target else {
                throw CachekitError(.invalidConfig, "redis URL: 'read_from_replicas' needs a redis+cluster:// URL")
            }
            switch value.lowercased() {
            case "true", "yes", "1": readFromReplicas = true
            case "false", "no", "0": readFromReplicas = false
            default: throw CachekitError(.invalidConfig, "redis URL: 'read_from_replicas' must be true or false")
            }
        default:  // the ssl_* parameters
            guard var settings = tls else {
                throw CachekitError(.invalidConfig, "redis URL: query parameter '\(name)' needs a rediss:// URL")
            }
            try settings.apply(name: name, value: value)
            tls = settings
        }
    }

    private static func parseSeconds(_ value: String, name: String) throws(CachekitError) -> Int {
        guard let seconds = Double(value), seconds.isFinite, seconds > 0, seconds <= 86_400 else {
            throw CachekitError(.invalidConfig, "redis URL: '\(name)' must be a number of seconds above 0 (at most 86400)")
        }
        return max(1, Int((seconds * 1000).rounded(.up)))
    }

    /// An unknown parameter's name as a message may show it: escaped and short, and withheld
    /// if it carries the URL's password (a password pasted in the wrong place).
    private func parameterNameForMessage(_ name: [UInt8]) -> String {
        let carriesPassword = name.withUnsafeBytes { bytes in password?.occurs(in: bytes) ?? false }
        return carriesPassword ? "(withheld)" : escapedForMessage(bytes: Array(name.prefix(32)))
    }

    private static func percentDecodedText(
        _ text: URLBytes, what: String, plusIsSpace: Bool = false
    ) throws(CachekitError) -> String {
        let bytes = try percentDecodedBytes(text, what: what, plusIsSpace: plusIsSpace)
        try checkDecodedText(bytes, what: what)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Decoded text must be UTF-8 without control characters (checked as bytes: U+0000..U+001F
    /// and U+007F are the bytes 0x00..0x1f and 0x7f in UTF-8).
    private static func checkDecodedText(_ bytes: [UInt8], what: String) throws(CachekitError) {
        guard bytes.withUnsafeBytes({ validUTF8($0) }) else {
            throw CachekitError(.invalidConfig, "redis URL: the \(what) is not valid UTF-8 once percent-decoded")
        }
        guard !bytes.contains(where: { $0 < 0x20 || $0 == 0x7f }) else {
            throw CachekitError(.invalidConfig, "redis URL: the \(what) decodes to a control character")
        }
    }

    /// The password goes straight from the URL into wiped memory; the temporary is cleansed.
    private static func percentDecodedSecret(_ text: URLBytes, plusIsSpace: Bool = false) throws(CachekitError) -> SecretBytes {
        var bytes = try percentDecodedBytes(text, what: "password", plusIsSpace: plusIsSpace)
        defer { SecretBytes.wipe(&bytes) }
        return try SecretBytes(copying: bytes)
    }

    /// Decodes into an array sized once (never grown, so no unwiped copy is left behind).
    private static func percentDecodedBytes(
        _ text: URLBytes, what: String, plusIsSpace: Bool
    ) throws(CachekitError) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(text.count)
        var iterator = text.makeIterator()
        while let character = iterator.next() {
            if character == byte("%") {
                guard let high = iterator.next().flatMap(hexDigitValue), let low = iterator.next().flatMap(hexDigitValue) else {
                    SecretBytes.wipe(&out)
                    throw CachekitError(.invalidConfig, "redis URL: the \(what) has a malformed percent escape (write '%' as %25)")
                }
                out.append(high << 4 | low)
            } else if plusIsSpace && character == byte("+") {
                out.append(0x20)
            } else {
                out.append(character)
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
