/// Where Redis is: parsed from `redis://[user[:password]@]host[:port][/db]`,
/// `unix://[user[:password]@]/path?db=N` or a bare socket path.
public struct RedisEndpoint: Sendable, Equatable {
    public var host: String = "127.0.0.1"
    public var port: Int = 6379
    public var unixSocketPath: String?
    public var username: String?
    public var password: String?
    public var database: Int = 0

    /// A description without credentials, for messages and health output.
    public var redactedDescription: String {
        let target = unixSocketPath.map { "unix:\($0)" } ?? "\(host):\(port)"
        return "\(target) db \(database)\(password != nil ? " (with password)" : "")"
    }

    public static func parse(_ url: String) throws(CachekitError) -> RedisEndpoint {
        var endpoint = RedisEndpoint()
        if url.hasPrefix("/") {
            endpoint.unixSocketPath = url
            return endpoint
        }
        let isUnix: Bool
        var rest: Substring
        if url.hasPrefix("redis://") {
            isUnix = false; rest = url.dropFirst("redis://".count)
        } else if url.hasPrefix("unix://") {
            isUnix = true; rest = url.dropFirst("unix://".count)
        } else if url.hasPrefix("rediss://") {
            throw CachekitError(.invalidConfig, "redis URL: TLS (rediss://) is not supported")
        } else {
            throw CachekitError(.invalidConfig, "redis URL must start with redis:// or unix:// or be a socket path")
        }
        var query: Substring = ""
        if let q = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: q)...]
            rest = rest[..<q]
        }
        // Credentials end at the last '@' (a password may contain '@' only percent-encoded, but be lenient).
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                let user = try percentDecoded(credentials[..<colon])
                endpoint.username = user.isEmpty ? nil : user
                endpoint.password = try percentDecoded(credentials[credentials.index(after: colon)...])
            } else if !credentials.isEmpty {
                // redis-py reads a lone userinfo as the username; Redis then needs no password.
                endpoint.username = try percentDecoded(credentials)
            }
        }
        if isUnix {
            guard rest.hasPrefix("/") else {
                throw CachekitError(.invalidConfig, "redis URL: unix:// needs an absolute socket path")
            }
            endpoint.unixSocketPath = try percentDecoded(rest)
        } else {
            var hostPort = rest
            if let slash = rest.firstIndex(of: "/") {
                hostPort = rest[..<slash]
                let db = rest[rest.index(after: slash)...]
                if !db.isEmpty {
                    guard let n = Int(db), n >= 0, n < 1 << 16 else {
                        throw CachekitError(.invalidConfig, "redis URL: database must be a number")
                    }
                    endpoint.database = n
                }
            }
            if let colon = hostPort.lastIndex(of: ":"), !hostPort.hasSuffix("]") {
                let portText = hostPort[hostPort.index(after: colon)...]
                guard let port = Int(portText), port > 0, port < 65536 else {
                    throw CachekitError(.invalidConfig, "redis URL: port must be 1..65535")
                }
                endpoint.port = port
                hostPort = hostPort[..<colon]
            }
            if hostPort.hasPrefix("["), hostPort.hasSuffix("]") { hostPort = hostPort.dropFirst().dropLast() }
            if !hostPort.isEmpty { endpoint.host = String(hostPort) }
        }
        for item in query.split(separator: "&") {
            let parts = item.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { continue }
            switch parts[0] {
            case "db":
                guard let n = Int(parts[1]), n >= 0, n < 1 << 16 else {
                    throw CachekitError(.invalidConfig, "redis URL: db must be a number")
                }
                endpoint.database = n
            case "password":
                endpoint.password = try percentDecoded(parts[1])
            default:
                continue
            }
        }
        return endpoint
    }

    private static func percentDecoded(_ text: Substring) throws(CachekitError) -> String {
        guard text.contains("%") else { return String(text) }
        var bytes: [UInt8] = []
        var utf8 = text.utf8[...]
        while let byte = utf8.first {
            utf8 = utf8.dropFirst()
            if byte == UInt8(ascii: "%") {
                guard utf8.count >= 2, let value = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16) else {
                    throw CachekitError(.invalidConfig, "redis URL: malformed percent-encoding")
                }
                bytes.append(value)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
