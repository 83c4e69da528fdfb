/// Stored bytes are exactly what the caller gives (option `verbatim_entries`): the caller builds
/// the whole entry. For hosts writing cachekit-py's other serializers (orjson, custom
/// SerializerProtocol objects), whose CK frame names a serializer and format this library's
/// entry codec does not write; the caller frames, checksums and encrypts through the exported
/// functions, and both tiers, the fill lock and invalidation work as for any entry.
struct VerbatimEntryCodec: EntryCodec {
    var storesValueVerbatim: Bool { true }

    func encode(_ value: UnsafeRawBufferPointer, redisKey: [UInt8]) throws(CachekitError) -> OwnedBytes {
        guard !value.isEmpty else { throw CachekitError(.invalidArgument, "a verbatim entry must not be empty") }
        return try OwnedBytes(copying: value)
    }

    /// Nothing here can tell a damaged entry from a good one: the caller checks what it reads.
    func decode(_ stored: UnsafeRawBufferPointer, redisKey: [UInt8]) throws(CachekitError) -> OwnedBytes {
        try OwnedBytes(copying: stored)
    }
}
