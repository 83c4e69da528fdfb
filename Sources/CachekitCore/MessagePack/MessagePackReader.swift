/// A validated document and a pull decoder over it. Exported to C as `cachekit_msgpack_reader`.
public final class MessagePackReader {
    public let storage: OwnedBytes
    public var decoder: MessagePackDecoder

    public init(copying data: UnsafeRawBufferPointer) throws(CachekitError) {
        guard data.count <= Limits.maxCompressedSize else {
            throw CachekitError(.tooLarge, "document of \(data.count) bytes exceeds the 512 MiB limit")
        }
        try MessagePackValidator.validate(data, keys: .hashable)
        storage = try OwnedBytes(copying: data)
        decoder = MessagePackDecoder(storage.bytes)
    }
}
