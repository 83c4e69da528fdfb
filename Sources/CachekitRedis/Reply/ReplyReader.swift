import CachekitCore
import CHiredis

/// hiredis's RESP reader behind the header scanner: bytes are scanned against the limits,
/// then fed to `redisReaderFeed`; complete replies come out of `redisReaderGetReply` and are
/// copied into `RedisValue`s.
final class ReplyReader {
    private let reader: UnsafeMutablePointer<redisReader>
    private var scanner = ReplyHeaderScanner()

    init() throws(CachekitError) {
        guard let made = redisReaderCreate() else {
            throw CachekitError(.outOfMemory, "could not create a Redis reply reader")
        }
        reader = made
    }

    deinit { redisReaderFree(reader) }

    /// True when no byte of a next reply has arrived.
    var isAtReplyBoundary: Bool { scanner.isAtReplyBoundary }

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
        return Self.value(of: reply, answering: command)
    }

    private static func value(of reply: UnsafeMutablePointer<redisReply>, answering command: [UInt8]?) -> RedisValue {
        let node = reply.pointee
        switch node.type {
        case REDIS_REPLY_STRING: return .bulk(bytes(node))
        case REDIS_REPLY_STATUS: return .simple(escapedForMessage(bytes: bytes(node), limit: 4_096))
        case REDIS_REPLY_ERROR: return .error(sanitizedServerError(bytes(node), answering: command))
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
