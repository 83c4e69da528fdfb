/// How a cache stores values, as in cachekit-py's presets. Each mode writes one entry format
/// (`EntryMode`, the header's CACHEKIT_MODE_*):
///
/// | cache mode | entry format | encrypted |
/// |---|---|---|
/// | plain   | auto    | no |
/// | secure  | auto    | yes (always) |
/// | minimal | minimal | no |
/// | interop | interop | when a master key is set |
public enum CacheMode: String, Sendable, CaseIterable {
    /// Integrity on (ByteStorage envelope: LZ4 + xxHash3-64), no encryption.
    case plain
    /// Encrypted with AES-256-GCM under a tenant key derived from the master key; ciphertext in
    /// both tiers, decrypted at read.
    case secure
    /// Integrity off: the bare MessagePack document.
    case minimal
    /// The cross-language format: one plain MessagePack document (encrypted when a master key is set).
    case interop

    /// The entry format this mode writes.
    public var entryMode: EntryMode {
        switch self {
        case .plain, .secure: return .auto
        case .minimal: return .minimal
        case .interop: return .interop
        }
    }

    /// cachekit-py's default TTL for the preset (seconds, 0 = none).
    var defaultTTLSeconds: Int {
        switch self {
        case .plain, .interop: return 0
        case .minimal: return 300
        case .secure: return 600
        }
    }
}
