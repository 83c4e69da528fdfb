/// How an entry is stored, matching cachekit-py's modes.
public enum EntryMode: Int32, Sendable, CaseIterable {
    /// `@cache` default: CK v3 frame around a ByteStorage envelope (key suffix `:1s`).
    case auto = 0
    /// Integrity off (`minimal` preset): CK v3 frame around the bare MessagePack (`:0s`).
    case minimal = 1
    /// Cross-language interop mode: the bare MessagePack document, no frame.
    case interop = 2

    public var name: String {
        switch self {
        case .auto: return "auto"
        case .minimal: return "minimal"
        case .interop: return "interop"
        }
    }

    public init?(name: String) {
        guard let mode = EntryMode.allCases.first(where: { $0.name == name }) else { return nil }
        self = mode
    }
}

/// Encryption settings for entries: the keyring and the tenant entries are written for.
public struct EntrySecurity: Sendable {
    public let keyring: Keyring
    public let tenant: String
    /// When true, an auto-mode entry encrypted for another tenant is refused
    /// (`.tenantMismatch`); when false (cachekit-py's single-tenant reader) the header's tenant
    /// selects the key, which the AAD binds.
    public let requireTenantMatch: Bool

    public init(keyring: Keyring, tenant: String = "default", requireTenantMatch: Bool = false) {
        self.keyring = keyring
        self.tenant = tenant
        self.requireTenantMatch = requireTenantMatch
    }
}

/// What `Entry.inspect` learns from a stored value without decrypting it.
public struct EntryInfo: Sendable {
    public var mode: EntryMode
    public var header: Frame.Header?
    public var headerJSON: String?
    public var totalLength: Int
    public var payloadLength: Int
    public var encrypted: Bool
    /// For a readable envelope: its compressed and original sizes and whether the checksum holds.
    public var envelopeCompressedLength: Int?
    public var envelopeOriginalSize: UInt64?
    /// nil when not checked (encrypted or no envelope), else the envelope's retrieve status.
    public var envelopeStatus: Status?
}

public enum Entry {
    static let algorithm = "AES-256-GCM"

    // MARK: Encode

    /// The Redis value for the MessagePack document `inner`, exactly as cachekit-py writes it.
    /// - Parameter key: the key the AAD binds when encrypting: the full Redis key (with any
    ///   `t:{tenant}:` prefix) in auto and minimal mode, the bare interop key in interop mode.
    public static func encode(
        inner: UnsafeRawBufferPointer, mode: EntryMode, key: String, security: EntrySecurity?
    ) throws(CachekitError) -> OwnedBytes {
        try encode(inner: inner, mode: mode, key: key, security: security, sealer: nil)
    }

    /// Seals a plaintext under an AAD; tests pass one that uses a recorded nonce.
    typealias Sealer = (UnsafeRawBufferPointer, [UInt8], EntrySecurity) throws(CachekitError) -> Keyring.Sealed

    static func encode(
        inner: UnsafeRawBufferPointer, mode: EntryMode, key: String, security: EntrySecurity?, sealer: Sealer?
    ) throws(CachekitError) -> OwnedBytes {
        guard inner.count <= Limits.maxUncompressedSize else {
            throw CachekitError(.tooLarge, "value of \(inner.count) bytes exceeds the 512 MiB limit")
        }
        try MessagePackValidator.validate(inner, keys: mode == .interop ? .hashable : .stringOrBinary)
        switch mode {
        case .interop:
            guard let security else { return try OwnedBytes(copying: inner) }
            let aad = try entryAAD(tenant: security.tenant, key: key, compressed: false, originalType: nil)
            let sealed = try seal(inner, aad: aad, security: security, sealer: sealer)
            return sealed.takePayload()
        case .auto, .minimal:
            let integrity = mode == .auto
            if integrity {
                let envelope = try Envelope.store(inner, format: formatBytes)
                return try frame(envelope.bytes, integrity: true, key: key, security: security, sealer: sealer)
            }
            return try frame(inner, integrity: false, key: key, security: security, sealer: sealer)
        }
    }

    private static func frame(
        _ plaintext: UnsafeRawBufferPointer, integrity: Bool, key: String, security: EntrySecurity?, sealer: Sealer?
    ) throws(CachekitError) -> OwnedBytes {
        var metadata = Frame.Metadata(compressed: integrity)
        guard let security else { return try Frame.encode(metadata: metadata, payload: plaintext) }
        let aad = try entryAAD(tenant: security.tenant, key: key, compressed: integrity, originalType: "msgpack")
        let sealed = try seal(plaintext, aad: aad, security: security, sealer: sealer)
        metadata.encrypted = true
        metadata.tenantID = security.tenant
        metadata.encryptionAlgorithm = algorithm
        metadata.keyFingerprint = sealed.fingerprint
        return try Frame.encode(metadata: metadata, payload: sealed.payload.bytes)
    }

    private static func seal(
        _ plaintext: UnsafeRawBufferPointer, aad: [UInt8], security: EntrySecurity, sealer: Sealer?
    ) throws(CachekitError) -> Keyring.Sealed {
        if let sealer { return try sealer(plaintext, aad, security) }
        return try withBytes(aad) { aadBytes throws(CachekitError) in
            try security.keyring.encrypt(plaintext: plaintext, aad: aadBytes, tenant: security.tenant)
        }
    }

    // MARK: Decode

    /// The inner MessagePack document of a stored value, refusing what cachekit-py refuses.
    /// With `security`, plaintext entries are refused (`.notEncrypted`: the frame header is not
    /// authenticated, so a downgrade is never trusted); without it, encrypted ones are
    /// (`.encryptedEntry`).
    public static func decode(
        _ value: UnsafeRawBufferPointer, mode: EntryMode, key: String, security: EntrySecurity?
    ) throws(CachekitError) -> OwnedBytes {
        guard value.count <= Limits.maxCompressedSize else {
            throw CachekitError(.tooLarge, "stored value of \(value.count) bytes exceeds the 512 MiB limit")
        }
        switch mode {
        case .interop:
            let inner: OwnedBytes
            if let security {
                let aad = try entryAAD(tenant: security.tenant, key: key, compressed: false, originalType: nil)
                inner = try withBytes(aad) { aadBytes throws(CachekitError) in
                    try security.keyring.decrypt(payload: value, aad: aadBytes, tenant: security.tenant, fingerprint: nil)
                }
            } else {
                if value.count >= 2, value[0] == Frame.magic[0], value[1] == Frame.magic[1] {
                    throw CachekitError(.modeMismatch,
                                        "stored value is a CK v3 frame (auto mode), not an interop value")
                }
                inner = try OwnedBytes(copying: value)
            }
            try validateInner(inner.bytes, keys: .hashable)
            return inner
        case .auto, .minimal:
            let (headerRange, payloadRange) = try Frame.split(value)
            let header = try Frame.parseHeader(UnsafeRawBufferPointer(rebasing: value[headerRange]))
            let payload = UnsafeRawBufferPointer(rebasing: value[payloadRange])
            try checkSerializer(header)
            let metadata = header.metadata
            if security != nil && !metadata.encrypted {
                throw CachekitError(.notEncrypted,
                                    "entry header claims plaintext but this reader requires encryption")
            }
            let integrity = mode == .auto
            if !integrity && metadata.compressed {
                throw CachekitError(.modeMismatch,
                                    "entry was written with integrity checking on; this reader has it off (minimal)")
            }
            if metadata.encrypted {
                guard let security else {
                    throw CachekitError(.encryptedEntry, "entry is encrypted and no keyring was given")
                }
                let decrypted = try open(payload, metadata: metadata, key: key, security: security)
                return try unwrapPayload(decrypted.bytes, metadata: metadata, integrity: integrity)
            }
            return try unwrapPayload(payload, metadata: metadata, integrity: integrity)
        }
    }

    private static func unwrapPayload(
        _ plaintext: UnsafeRawBufferPointer, metadata: Frame.Metadata, integrity: Bool
    ) throws(CachekitError) -> OwnedBytes {
        let inner: OwnedBytes
        if integrity {
            do {
                inner = try Envelope.retrieve(plaintext).takeData()
            } catch where !metadata.compressed {
                throw CachekitError(.modeMismatch,
                                    "entry was written with integrity checking off (minimal); this reader has it on")
            }
        } else {
            if looksLikeEnvelope(plaintext, legacyOnly: metadata.encrypted) {
                throw CachekitError(.modeMismatch,
                                    "entry payload is a ByteStorage envelope; this reader has integrity checking off")
            }
            inner = try OwnedBytes(copying: plaintext)
        }
        try validateInner(inner.bytes, keys: .stringOrBinary)
        return inner
    }

    // MARK: Foreign entries

    /// Whether `error`, from decoding `value`, says the entry was written by a writer this
    /// reader is not (another mode or serializer, a master key this keyring does not hold)
    /// rather than that it is damaged: a stale key during a rotation, or a plain reader of a
    /// secure entry, must not destroy entries its peers read. Corrupt is what no cachekit writer
    /// produces: a malformed frame or envelope, a failed checksum, an authentication failure
    /// under a key this keyring holds. An interop entry has no header, so nothing proves it
    /// damaged unless it authenticated under this keyring and then failed validation.
    public static func isForeign(_ error: CachekitError, _ value: UnsafeRawBufferPointer, mode: EntryMode,
                                 security: EntrySecurity?) -> Bool {
        switch error.status {
        case .encryptedEntry, .notEncrypted, .modeMismatch, .serializerMismatch, .tenantMismatch,
             .keyFingerprintMismatch, .unsupportedFrameVersion:
            return true
        case .authenticationFailed, .ciphertextTooShort:
            guard mode != .interop else { return true }
            guard error.status == .authenticationFailed, let security else { return false }
            return !keyringHoldsKey(of: value, security)
        default:
            return mode == .interop && security == nil
        }
    }

    /// Whether this keyring holds the key the frame names (for the frame's tenant). A frame that
    /// names none proves nothing and counts as another key's; one whose header no longer parses
    /// is damaged and counts as held, so it is removed.
    private static func keyringHoldsKey(of value: UnsafeRawBufferPointer, _ security: EntrySecurity) -> Bool {
        do throws(CachekitError) {
            let (headerRange, _) = try Frame.split(value)
            let metadata = try Frame.parseHeader(UnsafeRawBufferPointer(rebasing: value[headerRange])).metadata
            guard let fingerprint = metadata.keyFingerprint else { return false }
            return try security.keyring.fingerprints(tenant: metadata.tenantID ?? security.tenant).contains(fingerprint)
        } catch {
            return true
        }
    }

    // MARK: Inspect

    /// Reads a stored value's structure without decrypting: frame header, sizes, and for a
    /// plaintext envelope its sizes and checksum status.
    public static func inspect(_ value: UnsafeRawBufferPointer, mode: EntryMode) throws(CachekitError) -> EntryInfo {
        var info = EntryInfo(mode: mode, header: nil, headerJSON: nil, totalLength: value.count,
                             payloadLength: value.count, encrypted: false)
        guard mode != .interop else { return info }
        let (headerRange, payloadRange) = try Frame.split(value)
        let headerBytes = UnsafeRawBufferPointer(rebasing: value[headerRange])
        info.headerJSON = String(decoding: headerBytes, as: UTF8.self)
        let header = try Frame.parseHeader(headerBytes)
        info.header = header
        info.payloadLength = payloadRange.count
        info.encrypted = header.metadata.encrypted
        let payload = UnsafeRawBufferPointer(rebasing: value[payloadRange])
        if !header.metadata.encrypted && header.metadata.compressed {
            do {
                let parsed = try Envelope.parse(payload)
                info.envelopeCompressedLength = parsed.compressedCount
                info.envelopeOriginalSize = parsed.originalSize
            } catch {}
            do {
                _ = try Envelope.retrieve(payload)
                info.envelopeStatus = .ok
            } catch {
                info.envelopeStatus = error.status
            }
        }
        return info
    }

    // MARK: Helpers

    static var formatBytes: UnsafeRawBufferPointer {
        let format: StaticString = "msgpack"
        return UnsafeRawBufferPointer(start: format.utf8Start, count: format.utf8CodeUnitCount)
    }

    /// cachekit-py's reader requires `s == "default"` and `m.format == "msgpack"`.
    static func checkSerializer(_ header: Frame.Header) throws(CachekitError) {
        guard header.serializer == "default" else {
            throw CachekitError(.serializerMismatch, "entry was written by serializer '\(header.serializer.prefix(64))', not 'default'")
        }
        guard header.metadata.format == "msgpack" else {
            throw CachekitError(.serializerMismatch, "entry format is '\(header.metadata.format.prefix(64))', not 'msgpack'")
        }
    }

    static func open(
        _ payload: UnsafeRawBufferPointer, metadata: Frame.Metadata, key: String, security: EntrySecurity
    ) throws(CachekitError) -> OwnedBytes {
        guard let tenant = metadata.tenantID, !tenant.isEmpty else {
            throw CachekitError(.invalidHeader, "encrypted entry header has no tenant_id")
        }
        if security.requireTenantMatch && tenant != security.tenant {
            throw CachekitError(.tenantMismatch, "entry is encrypted for a different tenant")
        }
        let aad = try entryAAD(tenant: tenant, key: key, compressed: metadata.compressed,
                               originalType: metadata.originalType)
        return try withBytes(aad) { aadBytes throws(CachekitError) in
            try security.keyring.decrypt(payload: payload, aad: aadBytes, tenant: tenant,
                                         fingerprint: metadata.keyFingerprint)
        }
    }

    /// AAD v0x03 as cachekit-py builds it for an entry: original_type only when non-empty.
    static func entryAAD(tenant: String, key: String, compressed: Bool, originalType: String?) throws(CachekitError) -> [UInt8] {
        guard !key.isEmpty else { throw CachekitError(.invalidArgument, "an encrypted entry needs a non-empty cache key") }
        let type = originalType.flatMap { $0.isEmpty ? nil : $0 }
        return try AAD.v3(tenant: tenant, cacheKey: key, format: "msgpack", compressed: compressed, originalType: type)
    }

    /// The inner document must be one MessagePack document cachekit-py's reader decodes.
    static func validateInner(_ inner: UnsafeRawBufferPointer, keys: MessagePackValidator.KeyRule) throws(CachekitError) {
        do {
            try MessagePackValidator.validate(inner, keys: keys)
        } catch where error.status == .invalidInput {
            throw CachekitError(.invalidValue, "stored value: \(error.message)")
        }
    }

    /// cachekit-py's integrity-off reader refuses a payload that is a verifiable ByteStorage
    /// envelope declaring at most 256 KiB (after decryption it probes only the legacy layout).
    static func looksLikeEnvelope(_ payload: UnsafeRawBufferPointer, legacyOnly: Bool) -> Bool {
        guard payload.count >= 2, payload[0] == 0x94 else { return false }
        let marker = payload[1]
        let isLegacy = (0x90...0x9f).contains(marker) || marker == 0xdc || marker == 0xdd
        let isBin = marker == 0xc4 || marker == 0xc5 || marker == 0xc6
        guard isLegacy || (isBin && !legacyOnly) else { return false }
        do {
            let header = try Envelope.parse(payload)
            guard header.originalSize <= 256 * 1024, header.compressedCount <= 20 &+ (256 * 1024 * 110 / 100) else {
                return false
            }
            _ = try Envelope.retrieve(payload)
            return true
        } catch {
            return false
        }
    }
}
