import CachekitCore
import CCrypto
import CHiredis

/// hiredis's RESP reader behind the header scanner: bytes are scanned against the limits,
/// then fed to `redisReaderFeed`; complete replies come out of `redisReaderGetReply` and are
/// copied into `RedisValue`s.
final class ReplyReader {
    private let reader: UnsafeMutablePointer<redisReader>
    private var scanner = ReplyHeaderScanner()
    /// The connection's password: an error repeating it is withheld.
    private let password: SecretBytes?
    /// Set when the last reply was an error withheld for repeating credentials; its bytes are
    /// wiped here, and the connection wipes what it read them from.
    private(set) var lastReplyRepeatedCredentials = false

    init(password: SecretBytes? = nil) throws(CachekitError) {
        guard let made = redisReaderCreate() else {
            throw CachekitError(.outOfMemory, "could not create a Redis reply reader")
        }
        reader = made
        self.password = password
    }

    deinit { redisReaderFree(reader) }

    /// True when no byte of a next reply has arrived.
    var isAtReplyBoundary: Bool { scanner.isAtReplyBoundary }

    /// True when bytes have arrived that no reply taken so far accounts for: before a command
    /// they would answer it in place of its own reply.
    var holdsUnreadBytes: Bool {
        !scanner.isAtReplyBoundary || reader.pointee.len > reader.pointee.pos || reader.pointee.ridx >= 0
    }

    func feed(_ bytes: UnsafeRawBufferPointer, limits: ReplyLimits) throws(CachekitError) {
        try scanner.scan(bytes, limits: limits)
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        guard redisReaderFeed(reader, base.assumingMemoryBound(to: CChar.self), bytes.count) == REDIS_OK else {
            throw CachekitError(.outOfMemory, "could not buffer a Redis reply")
        }
    }

    /// The next complete reply, or nil when more bytes are needed. `command` names the
    /// command the reply answers, for sanitizing its errors.
    func nextReply(answering command: [UInt8]?) throws(CachekitError) -> RedisValue? {
        var raw: UnsafeMutableRawPointer?
        guard redisReaderGetReply(reader, &raw) == REDIS_OK else {
            let detail = withUnsafeBytes(of: reader.pointee.errstr) { buffer in
                Array(buffer.prefix(while: { $0 != 0 }))
            }
            throw CachekitError(.backendError, "Redis sent a malformed reply: \(escapedForMessage(bytes: detail, limit: 128))")
        }
        guard let raw else { return nil }
        let reply = raw.assumingMemoryBound(to: redisReply.self)
        defer { freeReplyObject(raw) }
        lastReplyRepeatedCredentials = false
        if reply.pointee.type == REDIS_REPLY_ERROR, let withheld = withheldError(reply, answering: command) { return .error(withheld) }
        return value(of: reply, answering: command)
    }

    /// The fixed text for an error that may repeat the credentials, after wiping every copy
    /// of it this reader holds (the reply, and the consumed part of hiredis's buffer, which
    /// hiredis never reads again); nil for an error that may be shown.
    private func withheldError(_ reply: UnsafeMutablePointer<redisReply>, answering command: [UInt8]?) -> String? {
        var text = Self.bytes(reply.pointee)
        defer { SecretBytes.wipe(&text) }
        guard let withheld = withheldServerError(text, answering: command, password: password) else { return nil }
        if let characters = reply.pointee.str { OPENSSL_cleanse(characters, reply.pointee.len) }
        if let buffer = reader.pointee.buf, reader.pointee.pos > 0 { OPENSSL_cleanse(buffer, reader.pointee.pos) }
        lastReplyRepeatedCredentials = true
        return withheld
    }

    private func value(of reply: UnsafeMutablePointer<redisReply>, answering command: [UInt8]?) -> RedisValue {
        let node = reply.pointee
        switch node.type {
        case REDIS_REPLY_STRING: return .bulk(Self.bytes(node))
        case REDIS_REPLY_STATUS: return .simple(escapedForMessage(bytes: Self.bytes(node), limit: 4_096))
        case REDIS_REPLY_ERROR: return .error(sanitizedServerError(Self.bytes(node), answering: command, password: password))
        case REDIS_REPLY_INTEGER: return .integer(Int64(node.integer))
        case REDIS_REPLY_ARRAY:
            var elements: [RedisValue] = []
            elements.reserveCapacity(node.elements)
            if let children = node.element {
                for index in 0..<node.elements {
                    if let child = children[index] { elements.append(value(of: child, answering: nil)) }
                }
            }
            return .array(elements)
        default: return .null
        }
    }

    private static func bytes(_ node: redisReply) -> [UInt8] {
        guard let text = node.str, node.len > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: text, count: node.len))
    }
}
