/// One event on cachekit-py's invalidation channel: a registry id and a raw cache key (nil:
/// every key of the function).
public struct InvalidationEvent: Equatable, Sendable {
    public var registryId: [UInt8]
    public var key: [UInt8]?

    /// cachekit-py's invalidation channel.
    public static let channel: [UInt8] = Array("cachekit:py:invalidate:v1".utf8)

    /// cachekit-py's caps (decode_event): the whole event, and each string in it. A longer
    /// field is never sent.
    public static let maxEventBytes = 4096
    public static let maxFieldBytes = 1024
    static let maxMapEntries = 4

    public init(registryId: [UInt8], key: [UInt8]?) {
        self.registryId = registryId
        self.key = key
    }

    /// Encodes as cachekit-py encodes an event: MessagePack {"r": registry id} or
    /// {"r": registry id, "k": key}. A key over `maxFieldBytes` widens the event to the whole
    /// function; nil when the registry id itself is over the cap (no receiver accepts it).
    public static func encode(registryId: [UInt8], key: UnsafeRawBufferPointer?) -> [UInt8]? {
        guard registryId.count <= maxFieldBytes else { return nil }
        let eventKey = key.flatMap { $0.count <= maxFieldBytes ? $0 : nil }
        var writer = MessagePackEncoder(reservingCapacity: 16 + registryId.count + (eventKey?.count ?? 0))
        writer.writeMapHeader(eventKey == nil ? 1 : 2)
        writer.writeString("r")
        registryId.withUnsafeBytes { writer.writeStringBytes($0) }
        if let eventKey {
            writer.writeString("k")
            writer.writeStringBytes(eventKey)
        }
        return writer.bytes
    }

    /// Decodes an event as strictly as cachekit-py's decode_event: at most 4096 bytes, one
    /// MessagePack map of at most 4 entries with a string "r" and, if present, a string "k";
    /// strings at most 1024 bytes of UTF-8; no bin, array, ext or nested map; nothing after the
    /// map. The bytes are untrusted (anyone allowed to PUBLISH sends them): nil for anything else.
    public static func decode(_ data: UnsafeRawBufferPointer) -> InvalidationEvent? {
        guard data.count <= maxEventBytes else { return nil }
        var reader = MessagePackDecoder(data)
        do throws(CachekitError) {
            guard case .map(let count) = try reader.next(), count <= maxMapEntries else { return nil }
            var registryId: [UInt8]?
            var key: [UInt8]?
            var sawKey = false
            for _ in 0..<count {
                let name = try scalar(&reader)
                let value = try scalar(&reader)
                guard case .text(let nameBytes)? = name else { continue }  // a non-string name is no field of ours
                if nameBytes == [UInt8(ascii: "r")] {
                    guard case .text(let bytes)? = value else { return nil }
                    registryId = bytes
                } else if nameBytes == [UInt8(ascii: "k")] {
                    guard case .text(let bytes)? = value else { return nil }
                    key = bytes
                    sawKey = true
                }
            }
            guard reader.isAtEnd, let registryId else { return nil }
            return InvalidationEvent(registryId: registryId, key: sawKey ? key : nil)
        } catch {
            return nil
        }
    }

    private enum Scalar { case text([UInt8]), other }

    /// One scalar item; throws on containers, bin, ext, oversized or non-UTF-8 strings.
    private static func scalar(_ reader: inout MessagePackDecoder) throws(CachekitError) -> Scalar? {
        switch try reader.next() {
        case .str(let range):
            let bytes = UnsafeRawBufferPointer(rebasing: reader.buffer[range])
            guard bytes.count <= maxFieldBytes, validUTF8(bytes) else {
                throw CachekitError(.invalidInput, "string over the cap or not UTF-8")
            }
            return .text(Array(bytes))
        case .nil, .bool, .int, .uint, .float32, .float64:
            return .other
        case .bin, .array, .map, .ext:
            throw CachekitError(.invalidInput, "not a scalar")
        }
    }
}
