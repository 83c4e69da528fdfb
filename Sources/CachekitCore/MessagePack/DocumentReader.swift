/// A validated document and a pull reader over it. Exported to C as `cachekit_msgpack_reader`.
public final class DocumentReader {
    public let storage: OwnedBytes
    public var reader: MessagePackReader

    public init(copying data: UnsafeRawBufferPointer) throws(CacheKitError) {
        guard data.count <= Limits.maxCompressedSize else {
            throw CacheKitError(.tooLarge, "document of \(data.count) bytes exceeds the 512 MiB limit")
        }
        try MessagePackValidator.validate(data, keys: .hashable)
        storage = try OwnedBytes(copying: data)
        reader = MessagePackReader(storage.bytes)
    }
}
