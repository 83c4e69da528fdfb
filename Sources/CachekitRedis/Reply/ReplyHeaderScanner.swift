import CachekitCore

/// Follows the RESP2 framing of the byte stream, bytes before hiredis sees them, to refuse a
/// reply whose declared sizes pass its `ReplyLimits`.
///
/// Why this is hand-written: hiredis 0.14's reader (read.h) has no size limit; it buffers a
/// whole bulk string before returning it, and allocates an array's element vector as soon as
/// it reads `*count`. A server declaring `$2147483648` or `*20000000` would make it allocate
/// gigabytes. This scanner parses only the framing (type byte, `$len`, `*count`, nesting,
/// where each element ends), never builds values, and throws `.replyTooLarge` as soon as a
/// number passes the limit, while its digits are still arriving. Everything else (decoding,
/// protocol errors) stays hiredis's.
struct ReplyHeaderScanner {
    private enum Phase: Equatable {
        case typeByte
        /// A header or a simple line (`+ - :`); `kind` is its type byte.
        case line(kind: UInt8)
        /// Bulk body plus its CRLF, still to pass.
        case body(remaining: Int)
    }

    private var phase = Phase.typeByte
    private var lineLength = 0
    private var sawCarriageReturn = false
    private var number = 0
    private var negative = false
    /// Elements still expected by each open array, outermost first.
    private var openArrays: [Int] = []
    private var replyBytes = 0
    private var replyElements = 0

    /// hiredis 0.14 nests arrays 7 deep at most; deeper is a protocol error there too.
    private static let maxDepth = 7
    /// Longest simple line (`+OK`, `-ERR ...`, `:123`, a header) accepted.
    private static let maxLineBytes = 65_536

    /// True between replies: no byte of the next reply has been seen.
    var isAtReplyBoundary: Bool { phase == .typeByte && openArrays.isEmpty && replyBytes == 0 }

    mutating func scan(_ bytes: UnsafeRawBufferPointer, limits: ReplyLimits) throws(CachekitError) {
        var index = 0
        while index < bytes.count {
            switch phase {
            case .body(let remaining):
                let step = min(remaining, bytes.count &- index)
                index &+= step
                replyBytes &+= step
                if step == remaining {
                    phase = .typeByte
                    finishElement()
                } else {
                    phase = .body(remaining: remaining &- step)
                }
                continue
            case .typeByte:
                try countByte(limits: limits)
                let kind = bytes[index]
                guard kind == UInt8(ascii: "+") || kind == UInt8(ascii: "-") || kind == UInt8(ascii: ":")
                    || kind == UInt8(ascii: "$") || kind == UInt8(ascii: "*")
                else {
                    throw CachekitError(.backendError, "Redis sent a reply with an unknown type byte 0x\(String(kind, radix: 16))")
                }
                phase = .line(kind: kind)
                lineLength = 0
                sawCarriageReturn = false
                number = 0
                negative = false
            case .line(let kind):
                try countByte(limits: limits)
                try scanLineByte(bytes[index], kind: kind, limits: limits)
            }
            index &+= 1
        }
    }

    /// Counted before the byte is handled, so the byte that ends a reply resets the count.
    private mutating func countByte(limits: ReplyLimits) throws(CachekitError) {
        replyBytes &+= 1
        if replyBytes > limits.maxTotalBytes {
            throw CachekitError(.replyTooLarge, "Redis reply is longer than the \(limits.maxTotalBytes)-byte limit for the command")
        }
    }

    private mutating func scanLineByte(_ byte: UInt8, kind: UInt8, limits: ReplyLimits) throws(CachekitError) {
        if sawCarriageReturn && byte == UInt8(ascii: "\n") {
            try finishLine(kind: kind, limits: limits)
            return
        }
        sawCarriageReturn = byte == UInt8(ascii: "\r")
        lineLength &+= 1
        guard lineLength <= Self.maxLineBytes else {
            throw CachekitError(.replyTooLarge, "Redis sent a reply line longer than \(Self.maxLineBytes) bytes")
        }
        guard kind == UInt8(ascii: "$") || kind == UInt8(ascii: "*"), !sawCarriageReturn else { return }
        if byte == UInt8(ascii: "-") && lineLength == 1 {
            negative = true
            return
        }
        // 18 digits at most: the number can never overflow, whatever the limits.
        guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), lineLength <= 18 else {
            throw CachekitError(.backendError, "Redis sent a malformed \(kind == UInt8(ascii: "$") ? "bulk length" : "array count")")
        }
        number = number &* 10 &+ Int(byte &- UInt8(ascii: "0"))
        // Refused while the digits are still arriving: a 2 GiB header never gets further.
        if !negative { try check(kind: kind, declared: number, limits: limits) }
    }

    private mutating func finishLine(kind: UInt8, limits: ReplyLimits) throws(CachekitError) {
        phase = .typeByte
        switch kind {
        case UInt8(ascii: "$"), UInt8(ascii: "*"):
            guard lineLength >= 2, !negative || (number == 1 && lineLength == 3) else {
                throw CachekitError(.backendError, "Redis sent a malformed \(kind == UInt8(ascii: "$") ? "bulk length" : "array count")")
            }
            if negative || number == 0 && kind == UInt8(ascii: "*") {
                finishElement()  // null, or an empty array
            } else if kind == UInt8(ascii: "$") {
                let total = replyBytes.addingReportingOverflow(number &+ 2)
                if total.overflow || total.partialValue > limits.maxTotalBytes {
                    throw CachekitError(.replyTooLarge, "Redis reply is longer than the \(limits.maxTotalBytes)-byte limit for the command")
                }
                phase = .body(remaining: number &+ 2)
            } else {
                guard openArrays.count < Self.maxDepth else {
                    throw CachekitError(.backendError, "Redis sent arrays nested deeper than \(Self.maxDepth)")
                }
                replyElements &+= number
                openArrays.append(number)
            }
        default:
            finishElement()
        }
    }

    private func check(kind: UInt8, declared: Int, limits: ReplyLimits) throws(CachekitError) {
        if kind == UInt8(ascii: "$"), declared > limits.maxBulkBytes {
            throw CachekitError(.replyTooLarge, "Redis reply declares a bulk string over the \(limits.maxBulkBytes)-byte limit for the command")
        }
        if kind == UInt8(ascii: "*"), declared > limits.maxArrayElements &- replyElements {
            throw CachekitError(.replyTooLarge, "Redis reply declares more than the \(limits.maxArrayElements) array elements allowed for the command")
        }
    }

    /// One element is complete: count it against its array, closing arrays that are full.
    private mutating func finishElement() {
        while let last = openArrays.last {
            if last > 1 {
                openArrays[openArrays.count &- 1] = last &- 1
                return
            }
            openArrays.removeLast()
        }
        replyBytes = 0
        replyElements = 0
    }
}
