import CHiredis
import Glibc

/// The CLI's one Redis connection: hiredis, blocking, one command at a time. Deliberately small;
/// the library's cache layer has its own pool.
final class RedisConnection {
    enum Reply {
        case string([UInt8])
        case integer(Int64)
        case status(String)
        case nil_
        case other
    }

    private let context: UnsafeMutablePointer<redisContext>

    /// `redis://[[user]:password@]host[:port][/db]`. Passwords are never echoed in errors.
    init(url: String) throws(CLIError) {
        let target = try RedisURL(url)
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        guard let context = redisConnectWithTimeout(target.host, Int32(target.port), timeout) else {
            throw CLIError("cannot allocate a Redis connection")
        }
        // Checked before `self.context` is set: once every stored property is, a throwing init
        // runs deinit, which frees the context (freeing it here too was a double free).
        if context.pointee.err != 0 {
            let reason = withUnsafeBytes(of: context.pointee.errstr) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            redisFree(context)
            throw CLIError("cannot connect to Redis at \(target.host):\(target.port): \(reason)")
        }
        self.context = context
        redisSetTimeout(context, timeout)
        timeout = timeval(tv_sec: 0, tv_usec: 0)
        if let password = target.password {
            let args = target.user.map { ["AUTH", $0, password] } ?? ["AUTH", password]
            guard case .status = try command(args.map { Array($0.utf8) }) else {
                throw CLIError("Redis AUTH failed")
            }
        }
        if target.database != 0 {
            guard case .status = try command([Array("SELECT".utf8), Array(String(target.database).utf8)]) else {
                throw CLIError("Redis SELECT \(target.database) failed")
            }
        }
    }

    deinit { redisFree(context) }

    /// Runs one command; a Redis error reply throws.
    func command(_ arguments: [[UInt8]]) throws(CLIError) -> Reply {
        var pointers: [UnsafePointer<CChar>?] = []
        var lengths: [Int] = []
        var storage: [UnsafeMutablePointer<CChar>] = []
        defer { storage.forEach { $0.deallocate() } }
        for argument in arguments {
            let copy = UnsafeMutablePointer<CChar>.allocate(capacity: max(argument.count, 1))
            argument.withUnsafeBytes { raw in
                if let base = raw.baseAddress { UnsafeMutableRawPointer(copy).copyMemory(from: base, byteCount: raw.count) }
            }
            storage.append(copy)
            pointers.append(UnsafePointer(copy))
            lengths.append(argument.count)
        }
        guard let raw = redisCommandArgv(context, Int32(arguments.count), &pointers, &lengths) else {
            let reason = withUnsafeBytes(of: context.pointee.errstr) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            throw CLIError("Redis command failed: \(reason)")
        }
        defer { freeReplyObject(raw) }
        let reply = raw.assumingMemoryBound(to: redisReply.self).pointee
        func text() -> [UInt8] {
            guard let str = reply.str else { return [] }
            return Array(UnsafeRawBufferPointer(start: str, count: reply.len))
        }
        switch reply.type {
        case REDIS_REPLY_STRING: return .string(text())
        case REDIS_REPLY_INTEGER: return .integer(Int64(reply.integer))
        case REDIS_REPLY_STATUS: return .status(String(decoding: text(), as: UTF8.self))
        case REDIS_REPLY_NIL: return .nil_
        case REDIS_REPLY_ERROR:
            // Redis error texts never contain our values; keep only the first line.
            let message = String(decoding: text().prefix(200), as: UTF8.self)
            throw CLIError("Redis replied with an error: \(message.split(separator: "\n").first ?? "")")
        default: return .other
        }
    }
}

struct RedisURL {
    var host = "localhost"
    var port = 6379
    var database = 0
    var user: String?
    var password: String?

    init(_ url: String) throws(CLIError) {
        guard url.hasPrefix("redis://") else {
            throw CLIError(url.hasPrefix("rediss://") ? "TLS Redis URLs (rediss://) are not supported"
                           : "the Redis URL must start with redis://")
        }
        var rest = Substring(url.dropFirst("redis://".count))
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                let user = String(credentials[..<colon])
                self.user = user.isEmpty ? nil : percentDecoded(user)
                password = percentDecoded(String(credentials[credentials.index(after: colon)...]))
            } else if !credentials.isEmpty {
                password = percentDecoded(String(credentials))
            }
        }
        var hostPort = rest
        if let slash = rest.firstIndex(of: "/") {
            hostPort = rest[..<slash]
            let db = rest[rest.index(after: slash)...].prefix(while: { $0 != "?" })
            if !db.isEmpty {
                guard let number = Int(db), number >= 0 else { throw CLIError("the Redis URL's database is not a number") }
                database = number
            }
        }
        if let colon = hostPort.lastIndex(of: ":") {
            guard let number = Int(hostPort[hostPort.index(after: colon)...]), number > 0, number < 65536 else {
                throw CLIError("the Redis URL's port is not a number in 1..65535")
            }
            port = number
            hostPort = hostPort[..<colon]
        }
        if !hostPort.isEmpty { host = String(hostPort) }
    }

    private func percentDecoded(_ text: String) -> String {
        var out: [UInt8] = []
        var bytes = Array(text.utf8)[...]
        while let byte = bytes.popFirst() {
            if byte == UInt8(ascii: "%"), bytes.count >= 2,
               let value = UInt8(String(decoding: bytes.prefix(2), as: UTF8.self), radix: 16) {
                out.append(value)
                bytes = bytes.dropFirst(2)
            } else {
                out.append(byte)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
