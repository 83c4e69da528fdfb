/// A MessagePack writer that tracks open containers, so a host building a document item by item
/// cannot produce a malformed one. Exported to C as `cachekit_msgpack_writer`. Not thread-safe.
public final class MessagePackBuilder {
    public private(set) var writer = MessagePackWriter()
    /// Items still owed to each open container (a map owes two per entry).
    private var open: [Int] = []
    private var complete = false

    public init() {}

    public func reset() {
        writer = MessagePackWriter()
        open.removeAll()
        complete = false
    }

    /// The finished document, or `.writerState` while it is empty or containers are open.
    public func finished() throws(CacheKitError) -> [UInt8] {
        guard complete else {
            throw CacheKitError(.writerState, open.isEmpty ? "the document has no item"
                                : "\(open.count) container(s) still open")
        }
        return writer.bytes
    }

    private func checkRoom() throws(CacheKitError) {
        if open.isEmpty && complete {
            throw CacheKitError(.writerState, "the document already has its one top-level item")
        }
    }

    private func itemDone() {
        while let last = open.last {
            let left = last &- 1
            if left > 0 {
                open[open.count &- 1] = left
                return
            }
            open.removeLast()
        }
        complete = true
    }

    private func length(_ count: Int, _ what: StaticString) throws(CacheKitError) -> Int {
        guard count >= 0, count <= Int(UInt32.max) else {
            throw CacheKitError(.tooLarge, "\(what) of \(count) exceeds the MessagePack limit of 2^32 - 1")
        }
        return count
    }

    public func writeNil() throws(CacheKitError) { try checkRoom(); writer.writeNil(); itemDone() }
    public func writeBool(_ value: Bool) throws(CacheKitError) { try checkRoom(); writer.writeBool(value); itemDone() }
    public func writeInt(_ value: Int64) throws(CacheKitError) { try checkRoom(); writer.writeSigned(value); itemDone() }
    public func writeUInt(_ value: UInt64) throws(CacheKitError) { try checkRoom(); writer.writeUnsigned(value); itemDone() }
    public func writeFloat64(_ value: Double) throws(CacheKitError) { try checkRoom(); writer.writeFloat64(value); itemDone() }
    public func writeFloat32(_ value: Float) throws(CacheKitError) { try checkRoom(); writer.writeFloat32(value); itemDone() }

    public func writeString(_ utf8: UnsafeRawBufferPointer) throws(CacheKitError) {
        try checkRoom()
        _ = try length(utf8.count, "string length")
        guard validUTF8(utf8) else { throw CacheKitError(.invalidUTF8, "string is not valid UTF-8") }
        writer.writeStringBytes(utf8)
        itemDone()
    }

    public func writeBinary(_ data: UnsafeRawBufferPointer) throws(CacheKitError) {
        try checkRoom()
        _ = try length(data.count, "bin length")
        writer.writeBinary(data)
        itemDone()
    }

    public func writeExtension(type: Int8, data: UnsafeRawBufferPointer) throws(CacheKitError) {
        try checkRoom()
        _ = try length(data.count, "ext length")
        writer.writeExtension(type: type, data: data)
        itemDone()
    }

    public func writeArray(count: Int) throws(CacheKitError) {
        try openContainer(count: try length(count, "array count"), isMap: false)
    }

    public func writeMap(count: Int) throws(CacheKitError) {
        try openContainer(count: try length(count, "map count"), isMap: true)
    }

    private func openContainer(count: Int, isMap: Bool) throws(CacheKitError) {
        try checkRoom()
        if count > 0 {
            guard open.count < MessagePackValidator.maxNesting else {
                throw CacheKitError(.writerState, "containers nest deeper than \(MessagePackValidator.maxNesting) levels")
            }
        }
        if isMap { writer.writeMapHeader(count) } else { writer.writeArrayHeader(count) }
        if count > 0 { open.append(isMap ? count &* 2 : count) } else { itemDone() }
    }

    /// Appends one complete, valid document as one item.
    public func writeRaw(_ document: UnsafeRawBufferPointer) throws(CacheKitError) {
        try checkRoom()
        let remainingDepth = MessagePackValidator.maxNesting &- open.count
        try MessagePackValidator.validate(document, keys: .hashable, depthLimit: remainingDepth)
        writer.writeRaw(document)
        itemDone()
    }
}
