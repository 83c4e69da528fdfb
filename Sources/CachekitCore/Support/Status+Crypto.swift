// Status codes -20 .. -39: the crypto section of include/cachekit.h.
extension Status {
    /// AES-GCM tag check failed: wrong key, wrong tenant, wrong AAD, or tampered data.
    public static let authenticationFailed = Status(rawValue: -20)
    /// An encrypted payload shorter than nonce + tag (28 bytes).
    public static let ciphertextTooShort = Status(rawValue: -21)
    /// A master key shorter than the minimum, or a key that is not 32 bytes where one must be.
    public static let keyLength = Status(rawValue: -22)
    /// A key given as hex is not an even number of hexadecimal digits.
    public static let invalidHex = Status(rawValue: -23)
    /// The encryptor's 32-bit nonce counter is spent.
    public static let nonceExhausted = Status(rawValue: -24)
    /// An HKDF domain that is empty or over 255 bytes.
    public static let domainLength = Status(rawValue: -25)
    /// A tenant id that is empty, over 1024 bytes, or not UTF-8.
    public static let tenantLength = Status(rawValue: -26)
    /// More than 3 decrypt-only previous master keys.
    public static let tooManyPreviousKeys = Status(rawValue: -27)
    /// The current master key also appears among the previous keys.
    public static let currentKeyRepeated = Status(rawValue: -28)
    /// CACHEKIT_MASTER_KEY is not set (or empty).
    public static let missingMasterKey = Status(rawValue: -29)
    /// Fail-closed: no key of the keyring has the fingerprint the entry names.
    public static let keyFingerprintMismatch = Status(rawValue: -30)
    /// A key fingerprint that is not 32 lowercase hexadecimal digits.
    public static let invalidFingerprint = Status(rawValue: -31)
    /// The system random number generator failed.
    public static let randomFailed = Status(rawValue: -32)

    static func describeCrypto(_ status: Status) -> StaticString? {
        switch status {
        case .authenticationFailed: return "authentication failed: wrong key, tenant or AAD, or tampered data"
        case .ciphertextTooShort: return "encrypted payload shorter than nonce and tag (28 bytes)"
        case .keyLength: return "key has the wrong length"
        case .invalidHex: return "key is not valid hexadecimal"
        case .nonceExhausted: return "nonce counter exhausted"
        case .domainLength: return "key-derivation domain must be 1..255 bytes"
        case .tenantLength: return "tenant id must be 1..1024 bytes of UTF-8"
        case .tooManyPreviousKeys: return "more than 3 previous master keys"
        case .currentKeyRepeated: return "the current master key also appears among the previous keys"
        case .missingMasterKey: return "CACHEKIT_MASTER_KEY is not set"
        case .keyFingerprintMismatch: return "no keyring key has the entry's key fingerprint (fail-closed)"
        case .invalidFingerprint: return "key fingerprint must be 32 lowercase hexadecimal digits"
        case .randomFailed: return "the system random number generator failed"
        default: return nil
        }
    }
}
