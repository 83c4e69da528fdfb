/// A decoded MessagePack item. Maps keep their wire order (and duplicates) so a decoded document
/// re-encodes to the same bytes when it was written in shortest form.
public enum MessagePackValue: Equatable, Sendable {
    case `nil`
    case bool(Bool)
    case int(Int64)      // negative integers; int8..int64 encodings of non-negative values decode as .uint
    case uint(UInt64)
    case float32(Float)
    case float64(Double)
    case string(String)
    case binary([UInt8])
    case array([MessagePackValue])
    case map([Pair])
    case ext(type: Int8, data: [UInt8])

    public struct Pair: Equatable, Sendable {
        public var key: MessagePackValue
        public var value: MessagePackValue
        public init(_ key: MessagePackValue, _ value: MessagePackValue) {
            self.key = key
            self.value = value
        }
    }

    /// Bit-exact float equality, so NaN payloads and -0.0 compare as stored.
    public static func == (lhs: MessagePackValue, rhs: MessagePackValue) -> Bool {
        switch (lhs, rhs) {
        case (.nil, .nil): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.int(let a), .int(let b)): return a == b
        case (.uint(let a), .uint(let b)): return a == b
        case (.float32(let a), .float32(let b)): return a.bitPattern == b.bitPattern
        case (.float64(let a), .float64(let b)): return a.bitPattern == b.bitPattern
        case (.string(let a), .string(let b)): return a == b
        case (.binary(let a), .binary(let b)): return a == b
        case (.array(let a), .array(let b)): return a == b
        case (.map(let a), .map(let b)): return a == b
        case (.ext(let ta, let da), .ext(let tb, let db)): return ta == tb && da == db
        default: return false
        }
    }

    /// The map value for a string key (the last one, as Python's dict keeps the last duplicate).
    public subscript(key: String) -> MessagePackValue? {
        guard case .map(let pairs) = self else { return nil }
        return pairs.last(where: { $0.key == .string(key) })?.value
    }
}

// MARK: Decoding

extension MessagePackValue {
    /// The default nesting limit for value trees. Trees are walked recursively (encoding, key
    /// canonicalization, JSON), so the limit keeps those walks well inside a small thread stack.
    public static let defaultTreeDepthLimit = 256

    /// Decodes exactly one document (trailing bytes are refused). The decoder is iterative, so
    /// hostile nesting never reaches the call stack; strings must be valid UTF-8.
    public static func decode(
        _ bytes: UnsafeRawBufferPointer, depthLimit: Int = defaultTreeDepthLimit
    ) throws(CachekitError) -> MessagePackValue {
        var reader = MessagePackDecoder(bytes)
        let value = try decodeOne(&reader, depthLimit: depthLimit)
        guard reader.isAtEnd else {
            throw CachekitError(.invalidInput, "\(reader.remaining) trailing bytes after the MessagePack document")
        }
        return value
    }

    public static func decode(_ bytes: [UInt8], depthLimit: Int = defaultTreeDepthLimit) throws(CachekitError) -> MessagePackValue {
        try withBytes(bytes) { raw throws(CachekitError) in try decode(raw, depthLimit: depthLimit) }
    }

    private enum Partial {
        case array(remaining: Int, items: [MessagePackValue])
        case map(remaining: Int, pairs: [Pair], key: MessagePackValue?)
    }

    /// Decodes one item starting at the reader's offset.
    public static func decodeOne(
        _ reader: inout MessagePackDecoder, depthLimit: Int
    ) throws(CachekitError) -> MessagePackValue {
        var stack: [Partial] = []
        while true {
            var value: MessagePackValue
            let at = reader.offset
            switch try reader.next() {
            case .nil: value = .nil
            case .bool(let b): value = .bool(b)
            case .int(let i): value = i >= 0 ? .uint(UInt64(i)) : .int(i)
            case .uint(let u): value = .uint(u)
            case .float32(let f): value = .float32(f)
            case .float64(let d): value = .float64(d)
            case .str(let range):
                let slice = UnsafeRawBufferPointer(rebasing: reader.buffer[range])
                guard validUTF8(slice) else {
                    throw CachekitError(.invalidUTF8, "MessagePack string at offset \(at) is not valid UTF-8")
                }
                value = .string(String(decoding: slice, as: UTF8.self))
            case .bin(let range): value = .binary(Array(reader.buffer[range]))
            case .ext(let type, let range): value = .ext(type: type, data: Array(reader.buffer[range]))
            case .array(let count):
                if count > 0 {
                    guard stack.count < depthLimit else { throw tooDeep(depthLimit) }
                    var items: [MessagePackValue] = []
                    // Bounded: hostile nested headers must not multiply reservations.
                    items.reserveCapacity(min(count, 64))
                    stack.append(.array(remaining: count, items: items))
                    continue
                }
                value = .array([])
            case .map(let count):
                if count > 0 {
                    guard stack.count < depthLimit else { throw tooDeep(depthLimit) }
                    var pairs: [Pair] = []
                    pairs.reserveCapacity(min(count, 64))
                    stack.append(.map(remaining: count, pairs: pairs, key: nil))
                    continue
                }
                value = .map([])
            }
            // Attach the finished value to its container; finished containers cascade upwards.
            while true {
                guard let top = stack.popLast() else { return value }
                switch top {
                case .array(let remaining, var items):
                    items.append(value)
                    if remaining > 1 {
                        stack.append(.array(remaining: remaining &- 1, items: items))
                        break
                    }
                    value = .array(items)
                    continue
                case .map(let remaining, var pairs, let key):
                    guard let key else {
                        stack.append(.map(remaining: remaining, pairs: pairs, key: value))
                        break
                    }
                    pairs.append(Pair(key, value))
                    if remaining > 1 {
                        stack.append(.map(remaining: remaining &- 1, pairs: pairs, key: nil))
                        break
                    }
                    value = .map(pairs)
                    continue
                }
                break
            }
        }
    }

    static func tooDeep(_ limit: Int) -> CachekitError {
        CachekitError(.nestingTooDeep, "MessagePack nesting deeper than \(limit) levels")
    }
}

// MARK: Encoding

extension MessagePackValue {
    /// Appends this value in shortest form. Recursion depth is the tree's depth, which every
    /// producer bounds (decode, JSON parsing and the C writer all have depth limits).
    public func encode(into writer: inout MessagePackEncoder) {
        switch self {
        case .nil: writer.writeNil()
        case .bool(let b): writer.writeBool(b)
        case .int(let i): writer.writeSigned(i)
        case .uint(let u): writer.writeUnsigned(u)
        case .float32(let f): writer.writeFloat32(f)
        case .float64(let d): writer.writeFloat64(d)
        case .string(let s): writer.writeString(s)
        case .binary(let b): b.withUnsafeBytes { writer.writeBinary($0) }
        case .array(let items):
            writer.writeArrayHeader(items.count)
            for item in items { item.encode(into: &writer) }
        case .map(let pairs):
            writer.writeMapHeader(pairs.count)
            for pair in pairs {
                pair.key.encode(into: &writer)
                pair.value.encode(into: &writer)
            }
        case .ext(let type, let data): data.withUnsafeBytes { writer.writeExtension(type: type, data: $0) }
        }
    }

    public var encoded: [UInt8] {
        var writer = MessagePackEncoder()
        encode(into: &writer)
        return writer.bytes
    }
}
