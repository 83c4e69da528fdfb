import CachekitCore
import Testing
@testable import CachekitRedis

/// Feeds `wire` to a reader in pieces of `step` bytes and collects the replies.
private func decode(_ wire: String, step: Int = .max, limits: ReplyLimits = .small) throws(CachekitError) -> [RedisValue] {
    let reader = try ReplyReader()
    let bytes = Array(wire.utf8)
    var replies: [RedisValue] = []
    var offset = 0
    while offset < bytes.count {
        let end = min(bytes.count, offset + step)
        let piece = bytes[offset..<end]
        let result = piece.withUnsafeBytes { raw in Result { () throws(CachekitError) in try reader.feed(raw, limits: limits) } }
        try result.get()
        while let reply = try reader.nextReply(answering: nil) { replies.append(reply) }
        offset = end
    }
    return replies
}

@Suite struct ReplyScannerTests {
    static let mixed = "+OK\r\n-ERR bad\r\n:42\r\n$5\r\nhe\r\no\r\n$-1\r\n*-1\r\n*0\r\n*3\r\n$1\r\na\r\n*2\r\n:1\r\n$0\r\n\r\n+x\r\n"

    @Test func decodesEveryTypeWhateverTheSplit() throws {
        let expected: [RedisValue] = [
            .simple("OK"), .error("ERR bad"), .integer(42), .bulk(Array("he\r\no".utf8)), .null, .null, .array([]),
            .array([.bulk([UInt8(ascii: "a")]), .array([.integer(1), .bulk([])]), .simple("x")]),
        ]
        for step in [1, 2, 3, 7, 1_000] {
            #expect(try decode(Self.mixed, step: step) == expected, "step \(step)")
        }
    }

    @Test func aBulkOverTheLimitIsRefusedAtItsHeader() throws {
        let limits = ReplyLimits(maxBulkBytes: 100, maxArrayElements: 10, maxTotalBytes: 1_000)
        #expect(throws: CachekitError.self) { try decode("$101\r\n", limits: limits) }
        // Refused while the digits arrive: no CRLF needed, no body ever read.
        do {
            _ = try decode("$2147483648", step: 1, limits: limits)
            Issue.record("a 2 GiB header was accepted")
        } catch {
            #expect(error.status == .replyTooLarge)
        }
        #expect(try decode("$100\r\n\(String(repeating: "x", count: 100))\r\n", limits: limits).count == 1)
    }

    @Test func arrayElementsCountAcrossNesting() throws {
        let limits = ReplyLimits(maxBulkBytes: 100, maxArrayElements: 4, maxTotalBytes: 1_000)
        #expect(try decode("*2\r\n*2\r\n:1\r\n:2\r\n:3\r\n:4\r\n", limits: limits).count == 2)  // 2 + 2 elements, then a new reply
        do {
            _ = try decode("*2\r\n*3\r\n", limits: limits)
            Issue.record("5 nested elements passed a limit of 4")
        } catch {
            #expect(error.status == .replyTooLarge)
        }
        do {
            _ = try decode("*20000000\r\n", limits: .small)
            Issue.record("a 20M-element header was accepted")
        } catch {
            #expect(error.status == .replyTooLarge)
        }
    }

    @Test func totalBytesArePerReply() throws {
        let limits = ReplyLimits(maxBulkBytes: 100, maxArrayElements: 10, maxTotalBytes: 30)
        // Each reply is 19 bytes; many of them in one feed stay within the per-reply limit.
        let one = "*2\r\n$3\r\nabc\r\n:12\r\n"
        #expect(try decode(String(repeating: one, count: 5), limits: limits).count == 5)
        #expect(throws: CachekitError.self) { try decode("*3\r\n$10\r\n0123456789\r\n$10\r\n", limits: limits) }
        #expect(throws: CachekitError.self) { try decode("+" + String(repeating: "y", count: 40) + "\r\n", limits: limits) }
    }

    @Test func limitsNeverOverflow() throws {
        let huge = ReplyLimits.values(count: Int.max / 2, maxValueSize: Int.max / 2)
        #expect(huge.maxTotalBytes == Int.max)
        // Even with no limit to speak of, a 19-digit size is refused rather than wrapped.
        let unbounded = ReplyLimits(maxBulkBytes: .max, maxArrayElements: .max, maxTotalBytes: .max)
        #expect(throws: CachekitError.self) { try decode("$9999999999999999999\r\n", limits: unbounded) }
    }

    @Test func malformedFramingIsABackendError() {
        for wire in ["?x\r\n", "$abc\r\n", "$-2\r\n", "*-5\r\n", "$\r\n", "*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n"] {
            do {
                _ = try decode(wire)
                Issue.record("\(wire.debugDescription) accepted")
            } catch {
                #expect(error.status == .backendError, "\(wire.debugDescription): \(error)")
            }
        }
    }

    @Test func serverErrorsAreEscapedAndCredentialErrorsWithheld() {
        #expect(sanitizedServerError(Array("ERR a\nb\u{1b}[31m\\".utf8), answering: nil) == "ERR a\\x0ab\\x1b[31m\\x5c")
        let echoed = sanitizedServerError(Array("WRONGPASS invalid password 'hunter2'".utf8), answering: nil)
        #expect(!echoed.contains("hunter2") && echoed.hasPrefix("WRONGPASS"))
        #expect(!sanitizedServerError(Array("ERR hunter2".utf8), answering: Array("AUTH".utf8)).contains("hunter2"))
        #expect(escapedForMessage(bytes: [0x68, 0xff, 0xc3, 0xa9]) == "h\\xffé")
        // Any error repeating the connection's password is withheld, whatever it answers.
        let password = try? SecretBytes(copying: Array("hunter2".utf8))
        let repeated = sanitizedServerError(Array("ERR no such key 'xhunter2x'".utf8), answering: Array("GET".utf8), password: password)
        #expect(!repeated.contains("hunter2") && repeated.contains("withheld"))
        #expect(sanitizedServerError(Array("ERR hunter".utf8), answering: nil, password: password) == "ERR hunter")
    }
}
