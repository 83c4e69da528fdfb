import CCrypto

/// HKDF-SHA256 (RFC 5869) through OpenSSL 3's EVP_KDF "HKDF", extract-and-expand mode.
/// Exported to C as `cachekit_hkdf_sha256`.
public enum HKDF {
    /// The largest output HKDF-SHA256 can produce (255 x 32 bytes).
    public static let maxOutputLength = 255 * 32

    /// RFC 5869's bound on the output: 1..255 hash lengths.
    public static func checkOutputLength(_ count: Int) throws(CachekitError) {
        guard count >= 1, count <= maxOutputLength else {
            throw CachekitError(.invalidArgument, "HKDF-SHA256 output length must be 1..8160 bytes, got \(count)")
        }
    }

    /// Writes HKDF-SHA256(ikm, salt, info) into `output` (1...8160 bytes). `ikm` must not be empty
    /// (OpenSSL's HKDF refuses an empty key); `salt` and `info` may be.
    public static func sha256(
        ikm: UnsafeRawBufferPointer, salt: UnsafeRawBufferPointer, info: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer
    ) throws(CachekitError) {
        guard ikm.count > 0, let ikmBase = ikm.baseAddress else {
            throw CachekitError(.keyLength, "HKDF input key material is empty")
        }
        try checkOutputLength(output.count)
        guard let outBase = output.baseAddress else {
            throw CachekitError(.invalidArgument, "HKDF-SHA256 output length must be 1..8160 bytes, got \(output.count)")
        }
        guard let algorithm = HKDFAlgorithm.shared.kdf, let context = EVP_KDF_CTX_new(algorithm) else {
            throw CachekitError(.internal, "OpenSSL has no HKDF implementation available")
        }
        defer { EVP_KDF_CTX_free(context) }

        // OSSL_PARAM keeps the pointers it is given, so names come from static storage.
        var params: [OSSL_PARAM] = [
            OSSL_PARAM_construct_utf8_string(Names.digest.cMutable, Names.sha256.cMutable, 0),
            OSSL_PARAM_construct_octet_string(Names.key.cMutable, UnsafeMutableRawPointer(mutating: ikmBase), ikm.count),
        ]
        if salt.count > 0, let base = salt.baseAddress {
            params.append(OSSL_PARAM_construct_octet_string(Names.salt.cMutable, UnsafeMutableRawPointer(mutating: base), salt.count))
        }
        if info.count > 0, let base = info.baseAddress {
            params.append(OSSL_PARAM_construct_octet_string(Names.info.cMutable, UnsafeMutableRawPointer(mutating: base), info.count))
        }
        params.append(OSSL_PARAM_construct_end())
        let result = params.withUnsafeBufferPointer { list in
            EVP_KDF_derive(context, outBase.assumingMemoryBound(to: UInt8.self), output.count, list.baseAddress)
        }
        guard result == 1 else {
            OPENSSL_cleanse(outBase, output.count)
            throw CachekitError(.internal, "OpenSSL HKDF derivation failed")
        }
    }

    private enum Names {
        static let digest: StaticString = "digest"
        static let sha256: StaticString = "SHA256"
        static let key: StaticString = "key"
        static let salt: StaticString = "salt"
        static let info: StaticString = "info"
    }
}

/// The fetched HKDF algorithm, fetched once per process (fetching costs a provider lookup).
private final class HKDFAlgorithm: @unchecked Sendable {
    static let shared = HKDFAlgorithm()
    let kdf: OpaquePointer?
    private init() { kdf = EVP_KDF_fetch(nil, "HKDF", nil) }
}

extension StaticString {
    /// The NUL-terminated bytes, typed for OpenSSL parameters that are never written through.
    var cMutable: UnsafeMutablePointer<CChar> {
        UnsafeMutableRawPointer(mutating: UnsafeRawPointer(utf8Start)).assumingMemoryBound(to: CChar.self)
    }
}

/// cachekit's key schedule: HKDF-SHA256 domain keys and key fingerprints, byte-for-byte those of
/// cachekit-core (`derive_domain_key`, `key_fingerprint`).
public enum KeyDerivation {
    public static let keyLength = 32
    public static let maxDomainLength = 255
    public static let maxTenantLength = 1024
    /// cachekit-core's floor for a raw HKDF master key. Keyrings ask for 32 (the SDK's hex rule).
    public static let minMasterKeyLength = 16
    public static let fingerprintLength = 16
    /// A fingerprint as text: 32 lowercase hex digits.
    public static let fingerprintHexLength = 32

    /// A tenant id: 1..1024 bytes of UTF-8 (cachekit-core's rule).
    public static func checkTenant(_ tenant: UnsafeRawBufferPointer) throws(CachekitError) {
        guard tenant.count >= 1, tenant.count <= maxTenantLength else {
            throw CachekitError(.tenantLength, "tenant id must be 1..\(maxTenantLength) bytes, got \(tenant.count)")
        }
        guard validUTF8(tenant) else { throw CachekitError(.invalidUTF8, "tenant is not valid UTF-8") }
    }

    public enum Domain: String, CaseIterable, Sendable {
        case encryption, authentication
        case cacheKeys = "cache_keys"
    }

    /// HKDF-SHA256 with IKM = master key, info = domain, L = 32 and
    /// salt = "cachekit_v1_" || u8(len domain) || domain || u16be(len tenant) || tenant.
    /// Exported to C as `cachekit_derive_domain_key`.
    public static func deriveDomainKey(
        masterKey: UnsafeRawBufferPointer, domain: UnsafeRawBufferPointer, tenant: UnsafeRawBufferPointer
    ) throws(CachekitError) -> SecretBytes {
        guard masterKey.count >= minMasterKeyLength else {
            throw CachekitError(.keyLength, "master key must be at least \(minMasterKeyLength) bytes, got \(masterKey.count)")
        }
        guard domain.count >= 1, domain.count <= maxDomainLength else {
            throw CachekitError(.domainLength, "domain must be 1..\(maxDomainLength) bytes, got \(domain.count)")
        }
        guard tenant.count >= 1, tenant.count <= maxTenantLength else {
            throw CachekitError(.tenantLength, "tenant id must be 1..\(maxTenantLength) bytes, got \(tenant.count)")
        }
        var salt = [UInt8]()
        salt.reserveCapacity(12 &+ 1 &+ domain.count &+ 2 &+ tenant.count)
        salt.append(contentsOf: "cachekit_v1_".utf8)
        salt.append(UInt8(truncatingIfNeeded: domain.count))
        salt.append(contentsOf: domain)
        salt.append(UInt8(truncatingIfNeeded: tenant.count >> 8))
        salt.append(UInt8(truncatingIfNeeded: tenant.count))
        salt.append(contentsOf: tenant)
        let key = try SecretBytes(zeroedCount: keyLength)
        try withArrayBytes(salt) { saltBytes throws(CachekitError) in
            try HKDF.sha256(ikm: masterKey, salt: saltBytes, info: domain, into: key.mutableBytes)
        }
        return key
    }

    public static func deriveDomainKey(
        masterKey: SecretBytes, domain: Domain, tenant: String
    ) throws(CachekitError) -> SecretBytes {
        try withUTF8Bytes(tenant) { tenantBytes throws(CachekitError) in
            try withUTF8Bytes(domain.rawValue) { domainBytes throws(CachekitError) in
                try deriveDomainKey(masterKey: masterKey.bytes, domain: domainBytes, tenant: tenantBytes)
            }
        }
    }

    /// First 16 bytes of SHA-256("key_fingerprint_v1" || key). Exported to C as
    /// `cachekit_key_fingerprint`.
    public static func fingerprintBytes(_ key: UnsafeRawBufferPointer) throws(CachekitError) -> [UInt8] {
        guard let context = EVP_MD_CTX_new() else { throw CachekitError(.outOfMemory, "could not allocate a digest context") }
        defer { EVP_MD_CTX_free(context) }
        let prefix: StaticString = "key_fingerprint_v1"
        var digest = [UInt8](repeating: 0, count: 32)
        let ok = digest.withUnsafeMutableBytes { out -> Bool in
            guard EVP_DigestInit_ex(context, EVP_sha256(), nil) == 1,
                  EVP_DigestUpdate(context, prefix.utf8Start, prefix.utf8CodeUnitCount) == 1 else { return false }
            if key.count > 0, let base = key.baseAddress, EVP_DigestUpdate(context, base, key.count) != 1 { return false }
            return EVP_DigestFinal_ex(context, out.baseAddress?.assumingMemoryBound(to: UInt8.self), nil) == 1
        }
        let fingerprint = Array(digest.prefix(fingerprintLength))
        // The unpublished half of the digest is still a function of the key: wipe it.
        digest.withUnsafeMutableBytes { if let base = $0.baseAddress { OPENSSL_cleanse(base, $0.count) } }
        guard ok else { throw CachekitError(.internal, "OpenSSL SHA-256 failed") }
        return fingerprint
    }

    /// The fingerprint as 32 lowercase hex digits, as cachekit-py stores it in frame headers.
    public static func fingerprint(_ key: SecretBytes) throws(CachekitError) -> String {
        Hex.encode(try fingerprintBytes(key.bytes))
    }
}

/// The three domain keys of one tenant (cachekit-core `derive_tenant_keys`). Key bytes live in
/// `SecretBytes` and are wiped when the last reference goes.
public final class TenantKeys: Sendable {
    public let tenant: String
    public let encryption: SecretBytes
    public let authentication: SecretBytes
    public let cacheKeys: SecretBytes

    public init(masterKey: SecretBytes, tenant: String) throws(CachekitError) {
        self.tenant = tenant
        encryption = try KeyDerivation.deriveDomainKey(masterKey: masterKey, domain: .encryption, tenant: tenant)
        authentication = try KeyDerivation.deriveDomainKey(masterKey: masterKey, domain: .authentication, tenant: tenant)
        cacheKeys = try KeyDerivation.deriveDomainKey(masterKey: masterKey, domain: .cacheKeys, tenant: tenant)
    }

    public func encryptionFingerprint() throws(CachekitError) -> String { try KeyDerivation.fingerprint(encryption) }
    public func authenticationFingerprint() throws(CachekitError) -> String { try KeyDerivation.fingerprint(authentication) }
}
