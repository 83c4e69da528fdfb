/// The seam between the cache and the entry format: how a value becomes the bytes stored in
/// both tiers, and back. The cache never looks inside stored bytes itself.
public protocol EntryCodec: Sendable {
    /// The bytes to store for `value` under the full Redis key.
    func encode(_ value: UnsafeRawBufferPointer, redisKey: [UInt8]) throws(CachekitError) -> OwnedBytes
    /// The value stored in `stored` under the full Redis key; throws on anything malformed,
    /// tampered or undecryptable.
    func decode(_ stored: UnsafeRawBufferPointer, redisKey: [UInt8]) throws(CachekitError) -> OwnedBytes
    /// True when stored bytes are the value itself, so a copy out of L1 needs no decode.
    var storesValueVerbatim: Bool { get }
    /// Whether `error`, from decoding `stored`, says the entry may be valid for another reader
    /// (a key this reader lacks, another mode) rather than that it is corrupt or tampered. The
    /// cache leaves such an entry in Redis; a corrupt one it deletes.
    func isForeign(_ error: CachekitError, stored: UnsafeRawBufferPointer) -> Bool
    /// Public bytes kept beside `stored` in L1 so that a hit decodes with `decode(_:plan:)`
    /// instead of in full, or nil (the default: every hit decodes in full). `inner` is the
    /// document `stored` holds, decoded or encoded just before.
    func l1Plan(_ stored: UnsafeRawBufferPointer, inner: UnsafeRawBufferPointer, redisKey: [UInt8]) -> OwnedBytes?
    /// The value of an L1 entry kept with the plan `l1Plan` made for it.
    func decode(_ stored: UnsafeRawBufferPointer, plan: UnsafeRawBufferPointer) throws(CachekitError) -> OwnedBytes
}

extension EntryCodec {
    public var storesValueVerbatim: Bool { false }
    public func isForeign(_ error: CachekitError, stored: UnsafeRawBufferPointer) -> Bool { false }
    public func l1Plan(_ stored: UnsafeRawBufferPointer, inner: UnsafeRawBufferPointer, redisKey: [UInt8]) -> OwnedBytes? { nil }
    public func decode(_ stored: UnsafeRawBufferPointer, plan: UnsafeRawBufferPointer) throws(CachekitError) -> OwnedBytes {
        throw CachekitError(.internal, "this entry codec makes no L1 plans")
    }
}

/// cachekit entries (the keys-and-entries codec): a CK v3 frame around a ByteStorage envelope
/// (plain), around the bare document (minimal), or the bare document (interop); encrypted under
/// the keyring when `security` is set. The AAD binds the full Redis key in framed modes and the
/// key without the cache's prefix in interop mode, as cachekit-py does.
struct CachekitEntryCodec: EntryCodec {
    let mode: EntryMode
    let security: EntrySecurity?
    /// Bytes of key prefix in front of every Redis key (dropped for the interop AAD).
    let prefixCount: Int

    /// Interop without encryption stores the validated document itself.
    var storesValueVerbatim: Bool { mode == .interop && security == nil }

    private func aadKey(_ redisKey: [UInt8]) throws(CachekitError) -> String {
        let skipped = mode == .interop ? min(prefixCount, redisKey.count) : 0
        // The core's validUTF8 (ASCII eight bytes at a time), then a decode that finds nothing to
        // repair: String(validating:) over an array slice cost a tenth of a secure L1 hit.
        let key: String? = redisKey.withUnsafeBufferPointer { all in
            let bytes = UnsafeBufferPointer(rebasing: all[skipped...])
            return validUTF8(UnsafeRawBufferPointer(bytes)) ? String(decoding: bytes, as: UTF8.self) : nil
        }
        guard let key else {
            throw CachekitError(.invalidKey, "cache keys must be UTF-8 (they are bound into entries as text)")
        }
        return key
    }

    func encode(_ value: UnsafeRawBufferPointer, redisKey: [UInt8]) throws(CachekitError) -> OwnedBytes {
        try Entry.encode(inner: value, mode: mode, key: try aadKey(redisKey), security: security)
    }

    func decode(_ stored: UnsafeRawBufferPointer, redisKey: [UInt8]) throws(CachekitError) -> OwnedBytes {
        try Entry.decode(stored, mode: mode, key: try aadKey(redisKey), security: security)
    }

    /// Secure entries only: unencrypted modes keep the decoded document in L1 instead.
    func l1Plan(_ stored: UnsafeRawBufferPointer, inner: UnsafeRawBufferPointer, redisKey: [UInt8]) -> OwnedBytes? {
        guard let security, let key = try? aadKey(redisKey) else { return nil }
        return EntryPlan.make(stored, inner: inner, mode: mode, key: key, security: security)
    }

    func decode(_ stored: UnsafeRawBufferPointer, plan: UnsafeRawBufferPointer) throws(CachekitError) -> OwnedBytes {
        guard let security else { throw CachekitError(.internal, "an L1 plan reached a codec without encryption") }
        return try EntryPlan.open(stored, plan: plan, keyring: security.keyring)
    }

    func isForeign(_ error: CachekitError, stored: UnsafeRawBufferPointer) -> Bool {
        Entry.isForeign(error, stored, mode: mode, security: security)
    }
}
