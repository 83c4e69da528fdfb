/// Canonical MessagePack encodings of values, as cachekit-py produces them before hashing or storing.
public enum CanonicalProfile: Sendable {
    /// Auto-mode key arguments (key_generator.py `_normalize` + `msgpack.packb`): maps sorted by
    /// key, -0.0 -> 0.0, floats as float64, ints shortest, bytes as bin.
    case autoArguments
    /// Interop key arguments (interop.py args profile): as above, plus integral floats in
    /// [-2^63, 2^64) become integers; NaN and infinities are refused.
    case interopArguments
    /// Interop values (interop.py value profile): sorted keys, floats always float64, NaN and
    /// infinities refused.
    case interopValue
}

public enum Canonical {
    /// The canonical bytes of `value` under `profile`. Map keys must be unique strings; ext types
    /// are refused (cachekit-py cannot produce them, so no peer could hash them the same way).
    public static func encode(_ value: MessagePackValue, profile: CanonicalProfile) throws(CachekitError) -> [UInt8] {
        var writer = MessagePackEncoder()
        try encode(value, profile: profile, into: &writer, depth: 0)
        return writer.bytes
    }

    static let depthLimit = MessagePackValue.defaultTreeDepthLimit

    static func encode(
        _ value: MessagePackValue, profile: CanonicalProfile, into writer: inout MessagePackEncoder, depth: Int
    ) throws(CachekitError) {
        switch value {
        case .nil: writer.writeNil()
        case .bool(let b): writer.writeBool(b)
        case .int(let i): writer.writeSigned(i)
        case .uint(let u): writer.writeUnsigned(u)
        case .float32(let f): try encodeFloat(Double(f), profile: profile, into: &writer)
        case .float64(let d): try encodeFloat(d, profile: profile, into: &writer)
        case .string(let s): writer.writeString(s)
        case .binary(let b): b.withUnsafeBytes { writer.writeBinary($0) }
        case .ext(let type, _):
            throw CachekitError(.unsupportedValue, "MessagePack extension type \(type) cannot be canonicalized")
        case .array(let items):
            guard depth < depthLimit else { throw MessagePackValue.tooDeep(depthLimit) }
            writer.writeArrayHeader(items.count)
            for item in items { try encode(item, profile: profile, into: &writer, depth: depth &+ 1) }
        case .map(let pairs):
            guard depth < depthLimit else { throw MessagePackValue.tooDeep(depthLimit) }
            let sorted = try sortedStringPairs(pairs)
            writer.writeMapHeader(sorted.count)
            for (key, value) in sorted {
                key.withUnsafeBytes { writer.writeStringBytes($0) }
                try encode(value, profile: profile, into: &writer, depth: depth &+ 1)
            }
        }
    }

    /// Map entries ordered by key in code point order (= UTF-8 byte order), as Python's
    /// `sorted()` orders str keys. Non-string and duplicate keys are refused.
    static func sortedStringPairs(_ pairs: [MessagePackValue.Pair]) throws(CachekitError) -> [([UInt8], MessagePackValue)] {
        var entries: [([UInt8], MessagePackValue)] = []
        entries.reserveCapacity(pairs.count)
        for pair in pairs {
            guard case .string(let key) = pair.key else {
                throw CachekitError(.invalidMapKey, "map keys must be strings, got \(pair.key.typeName)")
            }
            entries.append((Array(key.utf8), pair.value))
        }
        entries.sort { $0.0.lexicographicallyPrecedes($1.0) }
        for index in entries.indices.dropFirst() where entries[index].0 == entries[index &- 1].0 {
            throw CachekitError(.invalidMapKey, "map has a duplicate key")
        }
        return entries
    }

    private static func encodeFloat(
        _ value: Double, profile: CanonicalProfile, into writer: inout MessagePackEncoder
    ) throws(CachekitError) {
        switch profile {
        case .autoArguments:
            writer.writeFloat64(value == 0 ? 0.0 : value)
        case .interopArguments, .interopValue:
            guard value.isFinite else {
                throw CachekitError(.unsupportedValue, "NaN and infinity are not allowed in interop mode")
            }
            if case .interopArguments = profile, value == value.rounded(.towardZero) {
                // Exact bounds: -2^63 is included, 2^64 is not (2^64 - 1 rounds up to it).
                if value >= -9_223_372_036_854_775_808.0 && value < 0 {
                    writer.writeSigned(Int64(value))
                    return
                }
                if value >= 0 && value < 18_446_744_073_709_551_616.0 {
                    writer.writeUnsigned(UInt64(value))
                    return
                }
            }
            writer.writeFloat64(value)
        }
    }
}

extension MessagePackValue {
    /// A short type name for messages (never the value itself).
    public var typeName: String {
        switch self {
        case .nil: return "nil"
        case .bool: return "bool"
        case .int, .uint: return "int"
        case .float32: return "float32"
        case .float64: return "float64"
        case .string: return "str"
        case .binary: return "bin"
        case .array: return "array"
        case .map: return "map"
        case .ext: return "ext"
        }
    }
}
