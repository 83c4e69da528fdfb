/// One MessagePack item header, as read by `MessagePackDecoder`. Containers give their element
/// count; str, bin and ext give a range of the input (no copy).
public enum MessagePackToken: Equatable, Sendable {
    case `nil`
    case bool(Bool)
    case int(Int64)      // negative integers (and, from int8..int64 encodings, any value)
    case uint(UInt64)    // non-negative integers from fixint and uint8..uint64
    case float32(Float)
    case float64(Double)
    case str(Range<Int>)
    case bin(Range<Int>)
    case array(Int)
    case map(Int)
    case ext(type: Int8, Range<Int>)
}

/// A strict, bounds-checked MessagePack pull reader over borrowed bytes. Every read checks the
/// remaining length first; malformed or truncated input throws `.invalidInput` and never traps.
/// Lengths are validated against the remaining input, so a hostile length cannot cause a huge
/// allocation. 0xc1 (never used) is refused.
public struct MessagePackDecoder {
    public let buffer: UnsafeRawBufferPointer
    public private(set) var offset: Int = 0

    public init(_ buffer: UnsafeRawBufferPointer) { self.buffer = buffer }

    public var remaining: Int { buffer.count &- offset }
    public var isAtEnd: Bool { offset >= buffer.count }

    @inline(__always)
    mutating func readByte() throws(CachekitError) -> UInt8 {
        guard offset < buffer.count else { throw truncated() }
        let byte = buffer[offset]
        offset &+= 1
        return byte
    }

    @inline(__always)
    mutating func readBigEndian<T: FixedWidthInteger>(_: T.Type) throws(CachekitError) -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw truncated() }
        var value: T = 0
        for index in 0..<size { value = (value << 8) | T(buffer[offset &+ index]) }
        offset &+= size
        return value
    }

    /// Consumes `length` bytes and returns their range in `buffer`.
    mutating func take(_ length: Int) throws(CachekitError) -> Range<Int> {
        guard length >= 0, length <= remaining else { throw truncated() }
        let start = offset
        offset &+= length
        return start..<offset
    }

    /// Reads the next item header.
    public mutating func next() throws(CachekitError) -> MessagePackToken {
        let byte = try readByte()
        switch byte {
        case 0x00...0x7f: return .uint(UInt64(byte))
        case 0x80...0x8f: return .map(Int(byte & 0x0f))
        case 0x90...0x9f: return .array(Int(byte & 0x0f))
        case 0xa0...0xbf: return .str(try take(Int(byte & 0x1f)))
        case 0xc0: return .nil
        case 0xc2: return .bool(false)
        case 0xc3: return .bool(true)
        case 0xc4: return .bin(try take(Int(try readByte())))
        case 0xc5: return .bin(try take(Int(try readBigEndian(UInt16.self))))
        case 0xc6: return .bin(try take(try length32()))
        case 0xc7: return try ext(length: Int(try readByte()))
        case 0xc8: return try ext(length: Int(try readBigEndian(UInt16.self)))
        case 0xc9: return try ext(length: try length32())
        case 0xca: return .float32(Float(bitPattern: try readBigEndian(UInt32.self)))
        case 0xcb: return .float64(Double(bitPattern: try readBigEndian(UInt64.self)))
        case 0xcc: return .uint(UInt64(try readByte()))
        case 0xcd: return .uint(UInt64(try readBigEndian(UInt16.self)))
        case 0xce: return .uint(UInt64(try readBigEndian(UInt32.self)))
        case 0xcf: return .uint(try readBigEndian(UInt64.self))
        case 0xd0: return .int(Int64(Int8(bitPattern: try readByte())))
        case 0xd1: return .int(Int64(Int16(bitPattern: try readBigEndian(UInt16.self))))
        case 0xd2: return .int(Int64(Int32(bitPattern: try readBigEndian(UInt32.self))))
        case 0xd3: return .int(Int64(bitPattern: try readBigEndian(UInt64.self)))
        case 0xd4: return try ext(length: 1)
        case 0xd5: return try ext(length: 2)
        case 0xd6: return try ext(length: 4)
        case 0xd7: return try ext(length: 8)
        case 0xd8: return try ext(length: 16)
        case 0xd9: return .str(try take(Int(try readByte())))
        case 0xda: return .str(try take(Int(try readBigEndian(UInt16.self))))
        case 0xdb: return .str(try take(try length32()))
        case 0xdc: return .array(try count(Int(try readBigEndian(UInt16.self))))
        case 0xdd: return .array(try count(try length32()))
        case 0xde: return .map(try count(Int(try readBigEndian(UInt16.self))))
        case 0xdf: return .map(try count(try length32()))
        case 0xe0...0xff: return .int(Int64(Int8(bitPattern: byte)))
        default: // 0xc1
            throw CachekitError(.invalidInput, "invalid MessagePack byte 0xc1 at offset \(offset &- 1)")
        }
    }

    private mutating func length32() throws(CachekitError) -> Int {
        Int(try readBigEndian(UInt32.self)) // UInt32 always fits Int on 64-bit platforms
    }

    /// Every element takes at least one byte, so a count over the remaining bytes is a lie.
    private func count(_ value: Int) throws(CachekitError) -> Int {
        guard value <= remaining else { throw truncated() }
        return value
    }

    private mutating func ext(length: Int) throws(CachekitError) -> MessagePackToken {
        let type = Int8(bitPattern: try readByte())
        return .ext(type: type, try take(length))
    }

    private func truncated() -> CachekitError {
        CachekitError(.invalidInput, "truncated MessagePack data at offset \(offset)")
    }

    // MARK: Typed helpers

    /// Reads a non-negative integer in any integer encoding.
    public mutating func readUnsigned() throws(CachekitError) -> UInt64 {
        let at = offset
        switch try next() {
        case .uint(let value): return value
        case .int(let value) where value >= 0: return UInt64(value)
        default: throw CachekitError(.invalidInput, "expected an unsigned integer at offset \(at)")
        }
    }

    /// Reads an integer 0...255 in either of its two shortest encodings (fixint or uint8) without
    /// going through `next()`; anything else is left to `next()` to classify. Checksums and
    /// legacy byte arrays are made of these.
    @inline(__always)
    public mutating func readByteFast() -> UInt8? {
        guard offset < buffer.count else { return nil }
        let byte = buffer[offset]
        if byte < 0x80 {
            offset &+= 1
            return byte
        }
        if byte == 0xcc, offset &+ 1 < buffer.count {
            let value = buffer[offset &+ 1]
            offset &+= 2
            return value
        }
        return nil
    }

    /// If the next item is a fixstr or str8 that fits in the buffer, consumes it and returns
    /// its range without building a token; else nil and nothing is consumed (`next()` then
    /// reads or refuses it). Documents are mostly short strings: this is the validator's fast path.
    @inline(__always)
    mutating func readShortString() -> Range<Int>? {
        guard offset < buffer.count else { return nil }
        let byte = buffer[offset]
        let start: Int, length: Int
        if byte & 0xe0 == 0xa0 {
            start = offset &+ 1
            length = Int(byte & 0x1f)
        } else if byte == 0xd9, offset &+ 1 < buffer.count {
            start = offset &+ 2
            length = Int(buffer[offset &+ 1])
        } else {
            return nil
        }
        guard length <= buffer.count &- start else { return nil }
        offset = start &+ length
        return start..<offset
    }

    /// Skips one complete item (containers recursively, to at most `depthLimit` levels).
    public mutating func skip(depthLimit: Int = 512) throws(CachekitError) {
        var pending = 1
        var depth = 0
        // Iterative: a stack of outstanding element counts keeps hostile nesting off the call stack.
        var stack: [Int] = []
        while pending > 0 {
            pending &-= 1
            switch try next() {
            case .array(let n):
                if n > 0 { stack.append(pending); pending = n; depth &+= 1 }
            case .map(let n):
                guard n <= Int.max / 2 else { throw truncated() }
                if n > 0 { stack.append(pending); pending = n &* 2; depth &+= 1 }
            default: break
            }
            guard depth <= depthLimit else {
                throw CachekitError(.invalidInput, "MessagePack nesting deeper than \(depthLimit)")
            }
            while pending == 0, let outer = stack.popLast() { pending = outer; depth &-= 1 }
        }
    }
}
