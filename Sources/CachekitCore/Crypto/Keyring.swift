import Glibc
import Synchronization

// Core crypto API (cachekit zero-knowledge mode). Other layers build on these; signatures are
// kept stable.
//
//   let keyring = try Keyring(masterKeyHex: hex, previousKeysHex: [], failClosed: false)
//   let keyring = try Keyring.fromEnvironment()   // CACHEKIT_MASTER_KEY, CACHEKIT_PREVIOUS_MASTER_KEYS
//   let aad = try AAD.v3(tenant: "default", cacheKey: redisKey, format: "msgpack",
//                        compressed: true, originalType: "msgpack")        // nil -> 4 components
//   let sealed = try keyring.encrypt(plaintext: bytes, aad: aad, tenant: "default")
//       // sealed.payload = nonce || ciphertext || tag, sealed.fingerprint = 32 hex (frame header)
//   let plain = try keyring.decrypt(payload: sealed.payload, aad: aad, tenant: "default",
//                                   fingerprint: sealed.fingerprint)  // nil -> keys in order
//   keyring.failClosed = true     // fingerprint mismatch -> .keyFingerprintMismatch
//   try keyring.fingerprints(tenant:)   // current key first
//   TenantKeys(masterKey:tenant:), KeyDerivation.deriveDomainKey(...), KeyDerivation.fingerprint(_:)
//   HKDF.sha256(ikm:salt:info:into:), Encryptor (nonce scheme), GCMKey (AES-256-GCM contexts)
//
// `encrypt`/`decrypt` come in two shapes: [UInt8] in and out (convenient), and raw buffers in
// with OwnedBytes out (no copies; what the C ABI uses). Errors are CachekitError with the
// crypto statuses of Status+Crypto.swift; no message ever holds key material.

/// A master-key keyring: one current key that encrypts and decrypts, plus at most 3
/// decrypt-only previous keys for rotation (cachekit-core `Keyring`). Per-tenant derived keys,
/// fingerprints, AES-GCM contexts and the encryptor are derived once per tenant and cached, so
/// no operation runs HKDF. Thread-safe; every key it holds is wiped when it is released.
/// Exported to C as `cachekit_keyring`.
public final class Keyring: Sendable {
    public static let maxPreviousKeys = 3
    /// The SDK's hex rule: at least 32 bytes decoded (cachekit-core alone accepts 16).
    public static let minMasterKeyLength = 32
    /// Tenants whose derived keys are cached; past this the cache starts over (derivation is cheap,
    /// unbounded growth from tenant ids read out of stored entries is not).
    public static let maxCachedTenants = 1024

    /// Index 0 is the current key.
    private let masterKeys: [SecretBytes]
    private let failClosedFlag: Atomic<Bool>
    private let tenants = Locked<[String: TenantState]>([:])
    /// cachekit-py's default tenant, derived at init: its reads and writes take no lock and hash
    /// no string (the tenant lookup cost a twentieth of a secure L1 hit, and a lock both cores share).
    private let defaultTenantState: TenantState
    /// Its current key (`defaultTenantState.entries[0]`).
    private let defaultCurrentKey: DerivedKey
    private static let defaultTenant = "default"

    /// Fail-closed: an entry naming a key fingerprint that no keyring key has is refused
    /// (`.keyFingerprintMismatch`). Fail-open (default, cachekit-py's default): the current key is
    /// tried anyway, and a wrong key shows as `.authenticationFailed`.
    public var failClosed: Bool {
        get { failClosedFlag.load(ordering: .relaxed) }
        set { failClosedFlag.store(newValue, ordering: .relaxed) }
    }

    public var keyCount: Int { masterKeys.count }

    public init(masterKey: SecretBytes, previousKeys: [SecretBytes] = [], failClosed: Bool = false) throws(CachekitError) {
        guard previousKeys.count <= Keyring.maxPreviousKeys else {
            throw CachekitError(.tooManyPreviousKeys,
                                "at most \(Keyring.maxPreviousKeys) previous master keys are allowed, got \(previousKeys.count)")
        }
        guard masterKey.count >= Keyring.minMasterKeyLength else {
            throw CachekitError(.keyLength, "master key must be at least \(Keyring.minMasterKeyLength) bytes decoded, got \(masterKey.count)")
        }
        for (position, key) in previousKeys.enumerated() where key.count < Keyring.minMasterKeyLength {
            throw CachekitError(.keyLength,
                                "previous master key \(position) must be at least \(Keyring.minMasterKeyLength) bytes decoded, got \(key.count)")
        }
        if let position = previousKeys.firstIndex(where: { $0.isEqual(to: masterKey) }) {
            throw CachekitError(.currentKeyRepeated,
                                "the current master key also appears as previous master key \(position); rotate forward to a fresh key")
        }
        masterKeys = [masterKey] + previousKeys
        failClosedFlag = Atomic(failClosed)
        let defaultState = try TenantState(masterKeys: masterKeys, tenant: Keyring.defaultTenant)
        guard let current = defaultState.entries.first else { throw CachekitError(.internal, "keyring has no keys") }
        defaultTenantState = defaultState
        defaultCurrentKey = current
    }

    public convenience init(masterKeyHex: String, previousKeysHex: [String] = [], failClosed: Bool = false) throws(CachekitError) {
        guard previousKeysHex.count <= Keyring.maxPreviousKeys else {
            throw CachekitError(.tooManyPreviousKeys,
                                "at most \(Keyring.maxPreviousKeys) previous master keys are allowed, got \(previousKeysHex.count)")
        }
        let master = try Hex.decodeSecret(masterKeyHex, what: "master key")
        var previous: [SecretBytes] = []
        for (position, hex) in previousKeysHex.enumerated() {
            previous.append(try Hex.decodeSecret(hex, what: "previous master key \(position)"))
        }
        try self.init(masterKey: master, previousKeys: previous, failClosed: failClosed)
    }

    /// From hex text: `master` one key, `previousList` comma-separated keys (blank items ignored,
    /// as cachekit-py does), or nil for none. The C ABI and `fromEnvironment` use this so key text
    /// never becomes a Swift String.
    public static func fromHex(master: UnsafeRawBufferPointer, previousList: UnsafeRawBufferPointer?,
                               failClosed: Bool = false) throws(CachekitError) -> Keyring {
        var items: [UnsafeRawBufferPointer] = []
        if let list = previousList, let base = list.baseAddress {
            var start = 0
            var index = 0
            while index <= list.count {
                if index == list.count || list[index] == UInt8(ascii: ",") {
                    var from = start, to = index
                    while from < to, Hex.isSpace(list[from]) { from &+= 1 }
                    while to > from, Hex.isSpace(list[to &- 1]) { to &-= 1 }
                    if to > from { items.append(UnsafeRawBufferPointer(start: base + from, count: to &- from)) }
                    start = index &+ 1
                }
                index &+= 1
            }
        }
        guard items.count <= maxPreviousKeys else {
            throw CachekitError(.tooManyPreviousKeys, "at most \(maxPreviousKeys) previous master keys are allowed, got \(items.count)")
        }
        let masterKey = try Hex.decodeSecret(master, what: "master key")
        var previous: [SecretBytes] = []
        for (position, item) in items.enumerated() {
            previous.append(try Hex.decodeSecret(item, what: "previous master key \(position)"))
        }
        return try Keyring(masterKey: masterKey, previousKeys: previous, failClosed: failClosed)
    }

    /// CACHEKIT_MASTER_KEY (hex, required) and CACHEKIT_PREVIOUS_MASTER_KEYS (comma-separated hex).
    public static func fromEnvironment(failClosed: Bool = false) throws(CachekitError) -> Keyring {
        guard let master = getenv("CACHEKIT_MASTER_KEY") else {
            throw CachekitError(.missingMasterKey, "CACHEKIT_MASTER_KEY is not set")
        }
        let masterText = UnsafeRawBufferPointer(start: master, count: strlen(master))
        guard masterText.contains(where: { !Hex.isSpace($0) }) else {
            throw CachekitError(.missingMasterKey, "CACHEKIT_MASTER_KEY is empty")
        }
        let previous = getenv("CACHEKIT_PREVIOUS_MASTER_KEYS").map { UnsafeRawBufferPointer(start: $0, count: strlen($0)) }
        return try fromHex(master: masterText, previousList: previous, failClosed: failClosed)
    }

    // MARK: Encrypt and decrypt

    /// The result of `encrypt`: `nonce || ciphertext || tag`, and the fingerprint of the
    /// tenant's current encryption key (what cachekit-py writes as `key_fingerprint`).
    public struct Sealed: ~Copyable {
        public var payload: OwnedBytes
        public let fingerprint: String

        public consuming func takePayload() -> OwnedBytes { payload }
    }

    /// Encrypts with the tenant's current key and the encryptor's next nonce.
    public func encrypt(plaintext: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer, tenant: String) throws(CachekitError) -> Sealed {
        let state = try state(for: tenant)
        var encryptor = state.encryptor.withLock { $0 }
        let payload: OwnedBytes
        do {
            payload = try encryptor.seal(plaintext: plaintext, aad: aad)
        } catch {
            guard error.status == .nonceExhausted else { throw error }
            // A fresh encryptor has a fresh instance id, so its nonces cannot repeat the old ones.
            encryptor = try state.replaceExhausted(encryptor)
            payload = try encryptor.seal(plaintext: plaintext, aad: aad)
        }
        return Sealed(payload: payload, fingerprint: state.entries[0].fingerprint)
    }

    public func encrypt(plaintext: [UInt8], aad: [UInt8], tenant: String) throws(CachekitError) -> (payload: [UInt8], fingerprint: String) {
        try withArrayBytes(plaintext) { plain throws(CachekitError) in
            try withArrayBytes(aad) { aadBytes throws(CachekitError) in
                let sealed = try encrypt(plaintext: plain, aad: aadBytes, tenant: tenant)
                return (sealed.payload.array, sealed.fingerprint)
            }
        }
    }

    /// Decrypts `nonce || ciphertext || tag`. With a fingerprint (the entry names its key, as
    /// cachekit-py's frames do) exactly the matching key is used; a match is binding. Without one
    /// (interop entries) the keys are tried in order, current first, and only an authentication
    /// failure moves on to the next.
    public func decrypt(payload: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer, tenant: String,
                        fingerprint: String?) throws(CachekitError) -> OwnedBytes {
        guard payload.count >= GCMKey.overhead else {
            throw CachekitError(.ciphertextTooShort, "encrypted payload of \(payload.count) bytes is shorter than nonce + tag (28)")
        }
        let state = try state(for: tenant)
        if let fingerprint {
            // A fingerprint equal to one of the keyring's is well-formed: the format is checked
            // only when none matches (the check cost a tenth of a hit).
            if let entry = state.entries.first(where: { $0.fingerprint == fingerprint }) {
                return try AESGCM.open(key: entry.cipher, payload: payload, aad: aad)
            }
            guard Keyring.isWellFormedFingerprint(fingerprint) else {
                throw CachekitError(.invalidFingerprint, "key fingerprint must be 32 lowercase hex digits")
            }
            if failClosed {
                throw CachekitError(.keyFingerprintMismatch,
                                    "the entry's key fingerprint matches none of the \(state.entries.count) keyring keys (fail-closed)")
            }
            return try AESGCM.open(key: state.entries[0].cipher, payload: payload, aad: aad)
        }
        for entry in state.entries {
            do {
                return try AESGCM.open(key: entry.cipher, payload: payload, aad: aad)
            } catch {
                guard error.status == .authenticationFailed else { throw error }
            }
        }
        throw CachekitError(.authenticationFailed,
                            "no key of the keyring (\(state.entries.count)) authenticates the data: wrong key, tenant or AAD, or the data was altered")
    }

    /// `decrypt` with the tenant and the fingerprint as UTF-8 bytes (an L1 plan's; an empty
    /// fingerprint: none): a `String` of either is built only when it is not the default tenant or
    /// no keyring key has the fingerprint (building and comparing them cost a twentieth of a hit).
    func decrypt(payload: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer, tenantUTF8: UnsafeRawBufferPointer,
                 fingerprintUTF8: UnsafeRawBufferPointer) throws(CachekitError) -> OwnedBytes {
        let tenant = Keyring.isDefaultTenant(tenantUTF8) ? nil : String(decoding: tenantUTF8, as: UTF8.self)
        // The default tenant's current key, almost always: no state lookup, no loop over the keys.
        if tenant == nil, payload.count >= GCMKey.overhead, defaultCurrentKey.hasFingerprint(fingerprintUTF8) {
            return try defaultCurrentKey.open(payload: payload, aad: aad)
        }
        if payload.count >= GCMKey.overhead, fingerprintUTF8.count > 0 {
            let state: TenantState
            if let tenant { state = try self.state(for: tenant) } else { state = defaultTenantState }
            for entry in state.entries where entry.hasFingerprint(fingerprintUTF8) {
                return try AESGCM.open(key: entry.cipher, payload: payload, aad: aad)
            }
        }
        let fingerprint = fingerprintUTF8.isEmpty ? nil : String(decoding: fingerprintUTF8, as: UTF8.self)
        return try decrypt(payload: payload, aad: aad, tenant: tenant ?? Keyring.defaultTenant, fingerprint: fingerprint)
    }

    /// `decrypt` when it needs no lock: the default tenant's current key with its spare context
    /// free; nil otherwise (the caller then decrypts the general way, outside whatever it holds).
    func decryptIfIdle(payload: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer, tenantUTF8: UnsafeRawBufferPointer,
                       fingerprintUTF8: UnsafeRawBufferPointer) throws(CachekitError) -> OwnedBytes? {
        guard Keyring.isDefaultTenant(tenantUTF8), defaultCurrentKey.hasFingerprint(fingerprintUTF8) else { return nil }
        return try defaultCurrentKey.openIfIdle(payload: payload, aad: aad)
    }

    private static let defaultTenantUTF8: StaticString = "default"

    private static func isDefaultTenant(_ utf8: UnsafeRawBufferPointer) -> Bool {
        let name = defaultTenantUTF8
        guard utf8.count == name.utf8CodeUnitCount, let base = utf8.baseAddress else { return false }
        return memcmp(base, name.utf8Start, utf8.count) == 0
    }

    public func decrypt(payload: [UInt8], aad: [UInt8], tenant: String, fingerprint: String?) throws(CachekitError) -> [UInt8] {
        try withArrayBytes(payload) { sealed throws(CachekitError) in
            try withArrayBytes(aad) { aadBytes throws(CachekitError) in
                try decrypt(payload: sealed, aad: aadBytes, tenant: tenant, fingerprint: fingerprint).array
            }
        }
    }

    // MARK: Keys

    /// Fingerprints of the tenant's derived encryption keys, current key first.
    public func fingerprints(tenant: String) throws(CachekitError) -> [String] {
        try state(for: tenant).entries.map(\.fingerprint)
    }

    /// The three domain keys of the current master key for a tenant (derived on each call).
    public func tenantKeys(tenant: String) throws(CachekitError) -> TenantKeys {
        try Keyring.validateTenant(tenant)
        return try TenantKeys(masterKey: masterKeys[0], tenant: tenant)
    }

    static func validateTenant(_ tenant: String) throws(CachekitError) {
        let length = tenant.utf8.count
        guard length >= 1, length <= KeyDerivation.maxTenantLength else {
            throw CachekitError(.tenantLength, "tenant id must be 1..\(KeyDerivation.maxTenantLength) bytes, got \(length)")
        }
    }

    static func isWellFormedFingerprint(_ text: String) -> Bool {
        text.utf8.count == 2 * KeyDerivation.fingerprintLength
            && text.utf8.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) }
    }

    func state(for tenant: String) throws(CachekitError) -> TenantState {
        if tenant == Keyring.defaultTenant { return defaultTenantState }
        if let cached = tenants.withLock({ $0[tenant] }) { return cached }
        try Keyring.validateTenant(tenant)
        // Derive outside the lock; if two threads race, one state wins and the other is dropped.
        let fresh = try TenantState(masterKeys: masterKeys, tenant: tenant)
        return tenants.withLock { cache in
            if let existing = cache[tenant] { return existing }
            if cache.count >= Keyring.maxCachedTenants { cache.removeAll() }
            cache[tenant] = fresh
            return fresh
        }
    }
}

/// One keyring key, derived for one tenant.
final class DerivedKey: Sendable {
    let fingerprint: String
    /// The fingerprint's 32 hex digits as four words, compared without a `String`.
    private let fingerprintWords: (UInt64, UInt64, UInt64, UInt64)
    let cipher: GCMKey

    init(masterKey: SecretBytes, tenant: String) throws(CachekitError) {
        let key = try KeyDerivation.deriveDomainKey(masterKey: masterKey, domain: .encryption, tenant: tenant)
        fingerprint = try KeyDerivation.fingerprint(key)
        fingerprintWords = try DerivedKey.words(fingerprint)
        cipher = try GCMKey(key: key)
    }

    /// Opens `nonce || ciphertext || tag` with this key (borrowing it: no reference count per call).
    func open(payload: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer) throws(CachekitError) -> OwnedBytes {
        try cipher.open(payload: payload, aad: aad)
    }

    /// `open` if the key's spare context is free, else nil (`AESGCM.openIfIdle`).
    func openIfIdle(payload: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer) throws(CachekitError) -> OwnedBytes? {
        try AESGCM.openIfIdle(key: cipher, payload: payload, aad: aad)
    }

    /// Whether `utf8` is this key's fingerprint.
    func hasFingerprint(_ utf8: UnsafeRawBufferPointer) -> Bool {
        guard utf8.count == 32 else { return false }
        return utf8.loadUnaligned(as: UInt64.self) == fingerprintWords.0
            && utf8.loadUnaligned(fromByteOffset: 8, as: UInt64.self) == fingerprintWords.1
            && utf8.loadUnaligned(fromByteOffset: 16, as: UInt64.self) == fingerprintWords.2
            && utf8.loadUnaligned(fromByteOffset: 24, as: UInt64.self) == fingerprintWords.3
    }

    /// `fingerprint`'s UTF-8 (32 hex digits, as KeyDerivation makes it) as four words.
    private static func words(_ fingerprint: String) throws(CachekitError) -> (UInt64, UInt64, UInt64, UInt64) {
        let bytes = Array(fingerprint.utf8)
        guard bytes.count == 32 else { throw CachekitError(.internal, "a derived key fingerprint is not 32 hex digits") }
        return bytes.withUnsafeBytes { raw in
            (raw.loadUnaligned(as: UInt64.self), raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self),
             raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self), raw.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
        }
    }
}

/// Everything a keyring caches for one tenant.
final class TenantState: Sendable {
    let entries: [DerivedKey]
    let encryptor: Locked<Encryptor>

    init(masterKeys: [SecretBytes], tenant: String) throws(CachekitError) {
        var entries: [DerivedKey] = []
        for master in masterKeys { entries.append(try DerivedKey(masterKey: master, tenant: tenant)) }
        guard let current = entries.first else { throw CachekitError(.internal, "keyring has no keys") }
        self.entries = entries
        encryptor = Locked(try Encryptor(key: current.cipher))
    }

    func replaceExhausted(_ exhausted: Encryptor) throws(CachekitError) -> Encryptor {
        let fresh = try Encryptor(key: exhausted.key)
        return encryptor.withLock { current in
            if current === exhausted { current = fresh }
            return current
        }
    }
}
