/// The seam between the cache and the entry format: how a value becomes the bytes stored in
/// both tiers, and back. The cache never looks inside stored bytes itself.
public protocol EntryCodec: Sendable {
    /// The bytes to store for `value` under the full Redis key.
    func encode(_ value: UnsafeRawBufferPointer, redisKey: [UInt8]) throws(CacheKitError) -> [UInt8]
    /// The value stored in `stored` under the full Redis key; throws on anything malformed,
    /// tampered or undecryptable.
    func decode(_ stored: UnsafeRawBufferPointer, redisKey: [UInt8]) throws(CacheKitError) -> OwnedBytes
    /// True when stored bytes are the value itself, so a copy out of L1 needs no decode.
    var storesValueVerbatim: Bool { get }
}

extension EntryCodec {
    public var storesValueVerbatim: Bool { false }
}

/// Interop mode without encryption: the value is the MessagePack document, stored as is.
struct InteropPlainEntryCodec: EntryCodec {
    var storesValueVerbatim: Bool { true }
    func encode(_ value: UnsafeRawBufferPointer, redisKey: [UInt8]) throws(CacheKitError) -> [UInt8] { Array(value) }
    func decode(_ stored: UnsafeRawBufferPointer, redisKey: [UInt8]) throws(CacheKitError) -> OwnedBytes {
        try OwnedBytes(copying: stored)
    }
}

/// INTERIM, until the CK entry codec of the keys branch is merged: plain mode stores the bare
/// ByteStorage envelope of the value (no CK v3 frame header), minimal mode the bare value.
/// Python's cachekit cannot read these; replace with the real entry codec.
struct EnvelopeOnlyEntryCodec: EntryCodec {
    let integrity: Bool

    func encode(_ value: UnsafeRawBufferPointer, redisKey: [UInt8]) throws(CacheKitError) -> [UInt8] {
        guard integrity else { return Array(value) }
        let envelope = try Envelope.store(value, format: UnsafeRawBufferPointer(start: Self.format, count: 7))
        return Array(envelope.bytes)
    }

    func decode(_ stored: UnsafeRawBufferPointer, redisKey: [UInt8]) throws(CacheKitError) -> OwnedBytes {
        guard integrity else { return try OwnedBytes(copying: stored) }
        return try Envelope.retrieve(stored).takeData()
    }

    private static let formatBytes: StaticString = "msgpack"
    private static var format: UnsafeRawPointer { UnsafeRawPointer(formatBytes.utf8Start) }
}
