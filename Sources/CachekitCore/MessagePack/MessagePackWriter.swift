/// A MessagePack writer that tracks open containers, so a host building a document item by item
/// cannot produce a malformed one. Exported to C as `cachekit_msgpack_writer`. Not thread-safe.
public final class MessagePackWriter {
    public private(set) var encoder = MessagePackEncoder()
    private struct OpenContainer {
        var remaining: Int      // items still owed (a map owes two per entry)
        let isMap: Bool
        let entries: Int
        var nonStringKeys = 0
    }

    private var open: [OpenContainer] = []
    private var complete = false

    public init() {}

    public func reset() {
        encoder = MessagePackEncoder()
        open.removeAll()
        complete = false
    }

    /// The finished document, or `.writerState` while it is empty or containers are open.
    public func finished() throws(CachekitError) -> [UInt8] {
        guard complete else {
            throw CachekitError(.writerState, open.isEmpty ? "the document has no item"
                                : "\(open.count) container(s) still open")
        }
        return encoder.bytes
    }

    private enum KeyKind { case string, scalar, container }

    /// Checks there is room for one more item and, at a map key position, that the reader will
    /// accept the key (as cachekit's reader does: no array/map keys, at most 32 non-string keys
    /// in a map of more than 32 entries).
    private func checkRoom(_ kind: KeyKind) throws(CachekitError) {
        if open.isEmpty && complete {
            throw CachekitError(.writerState, "the document already has its one top-level item")
        }
        guard let top = open.last, top.isMap, top.remaining % 2 == 0 else { return }
        switch kind {
        case .string: return
        case .container: throw CachekitError(.invalidMapKey, "a map key cannot be an array or a map")
        case .scalar:
            if top.entries > MessagePackValidator.maxNonStringKeys
                && top.nonStringKeys >= MessagePackValidator.maxNonStringKeys {
                throw CachekitError(.invalidMapKey,
                                    "a map of more than \(MessagePackValidator.maxNonStringKeys) entries takes at most \(MessagePackValidator.maxNonStringKeys) keys that are not strings")
            }
        }
    }

    /// Counts a non-string key just written at a key position.
    private func noteKey(_ kind: KeyKind) {
        guard kind == .scalar, let top = open.last, top.isMap, top.remaining % 2 == 0 else { return }
        open[open.count &- 1].nonStringKeys &+= 1
    }

    private func itemDone() {
        while let last = open.last {
            let left = last.remaining &- 1
            if left > 0 {
                open[open.count &- 1].remaining = left
                return
            }
            open.removeLast()
        }
        complete = true
    }

    private func scalar(_ write: () -> Void) throws(CachekitError) {
        try checkRoom(.scalar)
        noteKey(.scalar)
        write()
        itemDone()
    }

    private func length(_ count: Int, _ what: StaticString) throws(CachekitError) -> Int {
        guard count >= 0, count <= Int(UInt32.max) else {
            throw CachekitError(.tooLarge, "\(what) of \(count) exceeds the MessagePack limit of 2^32 - 1")
        }
        return count
    }

    public func writeNil() throws(CachekitError) { try scalar { encoder.writeNil() } }
    public func writeBool(_ value: Bool) throws(CachekitError) { try scalar { encoder.writeBool(value) } }
    public func writeInt(_ value: Int64) throws(CachekitError) { try scalar { encoder.writeSigned(value) } }
    public func writeUInt(_ value: UInt64) throws(CachekitError) { try scalar { encoder.writeUnsigned(value) } }
    public func writeFloat64(_ value: Double) throws(CachekitError) { try scalar { encoder.writeFloat64(value) } }
    public func writeFloat32(_ value: Float) throws(CachekitError) { try scalar { encoder.writeFloat32(value) } }

    public func writeString(_ utf8: UnsafeRawBufferPointer) throws(CachekitError) {
        try checkRoom(.string)
        _ = try length(utf8.count, "string length")
        guard validUTF8(utf8) else { throw CachekitError(.invalidUTF8, "string is not valid UTF-8") }
        encoder.writeStringBytes(utf8)
        itemDone()
    }

    public func writeBinary(_ data: UnsafeRawBufferPointer) throws(CachekitError) {
        try checkRoom(.string)
        _ = try length(data.count, "bin length")
        encoder.writeBinary(data)
        itemDone()
    }

    public func writeExtension(type: Int8, data: UnsafeRawBufferPointer) throws(CachekitError) {
        try checkRoom(.scalar)
        _ = try length(data.count, "ext length")
        if type == -1 && data.count != 4 && data.count != 8 && data.count != 12 {
            throw CachekitError(.invalidInput, "a timestamp extension (-1) has 4, 8 or 12 bytes")
        }
        noteKey(.scalar)
        encoder.writeExtension(type: type, data: data)
        itemDone()
    }

    public func writeArray(count: Int) throws(CachekitError) {
        try openContainer(count: try length(count, "array count"), isMap: false)
    }

    public func writeMap(count: Int) throws(CachekitError) {
        try openContainer(count: try length(count, "map count"), isMap: true)
    }

    private func openContainer(count: Int, isMap: Bool) throws(CachekitError) {
        try checkRoom(.container)
        if count > 0 {
            guard open.count < MessagePackValidator.maxNesting else {
                throw CachekitError(.writerState, "containers nest deeper than \(MessagePackValidator.maxNesting) levels")
            }
        }
        if isMap { encoder.writeMapHeader(count) } else { encoder.writeArrayHeader(count) }
        if count > 0 {
            open.append(OpenContainer(remaining: isMap ? count &* 2 : count, isMap: isMap, entries: count))
        } else {
            itemDone()
        }
    }

    /// Appends one complete, valid document as one item.
    public func writeRaw(_ document: UnsafeRawBufferPointer) throws(CachekitError) {
        let remainingDepth = MessagePackValidator.maxNesting &- open.count
        try MessagePackValidator.validate(document, keys: .hashable, depthLimit: remainingDepth)
        var reader = MessagePackDecoder(document)
        let kind: KeyKind
        switch try reader.next() {
        case .str, .bin: kind = .string
        case .array, .map: kind = .container
        default: kind = .scalar
        }
        try checkRoom(kind)
        noteKey(kind)
        encoder.writeRaw(document)
        itemDone()
    }
}
