import CachekitCore
import CCachekitHeader
import Glibc

// The crypto section of include/cachekit.h. Key text is read straight from the caller's memory
// into wiped key storage (never through a Swift String), and no message names a key.

private func keyring(_ handle: OpaquePointer?) throws(CachekitError) -> Keyring {
    try object(handle, as: Keyring.self, "keyring")
}

private func writeFingerprint(_ fingerprint: String, to out: UnsafeMutablePointer<CChar>) {
    var index = 0
    for byte in fingerprint.utf8.prefix(KeyDerivation.fingerprintHexLength) {
        out[index] = CChar(bitPattern: byte)
        index &+= 1
    }
    out[index] = 0
}

/// Exported to C as `cachekit_hkdf_sha256`.
@_cdecl("cachekit_hkdf_sha256") @implementation
public func cachekit_hkdf_sha256(
    _ ikm: UnsafePointer<UInt8>?, _ ikmCount: Int, _ salt: UnsafePointer<UInt8>?, _ saltCount: Int,
    _ info: UnsafePointer<UInt8>?, _ infoCount: Int, _ out: UnsafeMutablePointer<UInt8>?, _ outCount: Int
) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        let ikmBytes = try inputBytes(ikm, ikmCount, "ikm")
        let saltBytes = try inputBytes(salt, saltCount, "salt")
        let infoBytes = try inputBytes(info, infoCount, "info")
        let out = try required(out, "out")
        let outCount = try size(outCount, "out_len")
        try HKDF.checkOutputLength(outCount)
        try HKDF.sha256(ikm: ikmBytes, salt: saltBytes, info: infoBytes,
                        into: UnsafeMutableRawBufferPointer(start: out, count: outCount))
        return .ok
    }
}

/// Exported to C as `cachekit_derive_domain_key`.
@_cdecl("cachekit_derive_domain_key") @implementation
public func cachekit_derive_domain_key(
    _ masterKey: UnsafePointer<UInt8>?, _ masterKeyCount: Int, _ domain: UnsafePointer<CChar>?,
    _ tenant: UnsafePointer<CChar>?, _ outKey: UnsafeMutablePointer<UInt8>?
) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        let master = try inputBytes(masterKey, masterKeyCount, "master_key")
        let domainBytes = try cStringBytes(domain, "domain", limit: KeyDerivation.maxDomainLength, status: .domainLength)
        let tenantBytes = try tenantBytes(tenant)
        let out = try required(outKey, "out_key")
        let key = try KeyDerivation.deriveDomainKey(masterKey: master, domain: domainBytes, tenant: tenantBytes)
        key.withUnsafeBytes { bytes in
            if let base = bytes.baseAddress { out.update(from: base.assumingMemoryBound(to: UInt8.self), count: bytes.count) }
        }
        return .ok
    }
}

/// Exported to C as `cachekit_key_fingerprint`.
@_cdecl("cachekit_key_fingerprint") @implementation
public func cachekit_key_fingerprint(
    _ key: UnsafePointer<UInt8>?, _ keyCount: Int, _ outHex: UnsafeMutablePointer<CChar>?
) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        let keyBytes = try inputBytes(key, keyCount, "key")
        let out = try required(outHex, "out_hex")
        writeFingerprint(Hex.encode(try KeyDerivation.fingerprintBytes(keyBytes)), to: out)
        return .ok
    }
}

/// Exported to C as `cachekit_aad_v3`.
@_cdecl("cachekit_aad_v3") @implementation
public func cachekit_aad_v3(
    _ tenant: UnsafePointer<CChar>?, _ cacheKey: UnsafePointer<CChar>?, _ format: UnsafePointer<CChar>?,
    _ compressed: Int32, _ originalType: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<cachekit_buffer>?
) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        let tenantText = try requiredUTF8(tenant, "tenant")
        let keyText = try requiredUTF8(cacheKey, "cache_key")
        let formatText = format == nil ? Envelope.defaultFormat : try requiredUTF8(format, "format")
        let originalText: String? = originalType == nil ? nil : try requiredUTF8(originalType, "original_type")
        let out = try required(out, "out")
        let aad = try AAD.v3(tenant: tenantText, cacheKey: keyText, format: formatText,
                             compressed: compressed != 0, originalType: originalText)
        let owned = try OwnedBytes(uninitializedCount: aad.count)
        owned.base.update(from: aad, count: aad.count)
        deliver(owned, to: out)
        return .ok
    }
}

/// Exported to C as `cachekit_keyring_new`.
@_cdecl("cachekit_keyring_new") @implementation
public func cachekit_keyring_new(
    _ masterKeyHex: UnsafePointer<CChar>?, _ previousKeysHex: UnsafePointer<CChar>?,
    _ out: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        let master = try required(masterKeyHex, "master_key_hex")
        let out = try required(out, "out")
        let previous = previousKeysHex.map { UnsafeRawBufferPointer(start: $0, count: strlen($0)) }
        let created = try Keyring.fromHex(master: UnsafeRawBufferPointer(start: master, count: strlen(master)),
                                          previousList: previous)
        try handOut(created, to: out)
        return .ok
    }
}

/// Exported to C as `cachekit_keyring_from_env`.
@_cdecl("cachekit_keyring_from_env") @implementation
public func cachekit_keyring_from_env(_ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        let out = try required(out, "out")
        try handOut(try Keyring.fromEnvironment(), to: out)
        return .ok
    }
}

/// Exported to C as `cachekit_keyring_free`.
@_cdecl("cachekit_keyring_free") @implementation
public func cachekit_keyring_free(_ handle: OpaquePointer?) {
    releaseHandle(handle, as: Keyring.self, "keyring")
}

/// Exported to C as `cachekit_keyring_set_fail_closed`.
@_cdecl("cachekit_keyring_set_fail_closed") @implementation
public func cachekit_keyring_set_fail_closed(_ handle: OpaquePointer?, _ failClosed: Int32) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        try keyring(handle).failClosed = failClosed != 0
        return .ok
    }
}

/// Exported to C as `cachekit_keyring_key_count`.
@_cdecl("cachekit_keyring_key_count") @implementation
public func cachekit_keyring_key_count(_ handle: OpaquePointer?, _ out: UnsafeMutablePointer<Int>?) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        let count = try keyring(handle).keyCount
        try required(out, "out").pointee = count
        return .ok
    }
}

/// Exported to C as `cachekit_keyring_fingerprint`.
@_cdecl("cachekit_keyring_fingerprint") @implementation
public func cachekit_keyring_fingerprint(
    _ handle: OpaquePointer?, _ tenant: UnsafePointer<CChar>?, _ index: Int, _ outHex: UnsafeMutablePointer<CChar>?
) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        let ring = try keyring(handle)
        let tenantText = try tenantString(tenant)
        let out = try required(outHex, "out_hex")
        let index = try size(index, "index")
        let fingerprints = try ring.fingerprints(tenant: tenantText)
        guard index < fingerprints.count else {
            throw CachekitError(.invalidArgument, "index \(index) is out of range: the keyring has \(fingerprints.count) keys")
        }
        writeFingerprint(fingerprints[index], to: out)
        return .ok
    }
}

/// Exported to C as `cachekit_keyring_encrypt`.
@_cdecl("cachekit_keyring_encrypt") @implementation
public func cachekit_keyring_encrypt(
    _ handle: OpaquePointer?, _ tenant: UnsafePointer<CChar>?, _ plaintext: UnsafePointer<UInt8>?, _ plaintextCount: Int,
    _ aad: UnsafePointer<UInt8>?, _ aadCount: Int, _ out: UnsafeMutablePointer<cachekit_buffer>?,
    _ fingerprintOut: UnsafeMutablePointer<CChar>?
) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        let ring = try keyring(handle)
        let tenantText = try tenantString(tenant)
        let plain = try inputBytes(plaintext, plaintextCount, "plaintext")
        let aadBytes = try inputBytes(aad, aadCount, "aad")
        let out = try required(out, "out")
        let sealed = try ring.encrypt(plaintext: plain, aad: aadBytes, tenant: tenantText)
        if let fingerprintOut { writeFingerprint(sealed.fingerprint, to: fingerprintOut) }
        deliver(sealed.takePayload(), to: out)
        return .ok
    }
}

/// Exported to C as `cachekit_keyring_decrypt`.
@_cdecl("cachekit_keyring_decrypt") @implementation
public func cachekit_keyring_decrypt(
    _ handle: OpaquePointer?, _ tenant: UnsafePointer<CChar>?, _ payload: UnsafePointer<UInt8>?, _ payloadCount: Int,
    _ aad: UnsafePointer<UInt8>?, _ aadCount: Int, _ fingerprint: UnsafePointer<CChar>?,
    _ out: UnsafeMutablePointer<cachekit_buffer>?
) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        let ring = try keyring(handle)
        let tenantText = try tenantString(tenant)
        let sealed = try inputBytes(payload, payloadCount, "payload")
        let aadBytes = try inputBytes(aad, aadCount, "aad")
        let out = try required(out, "out")
        let fingerprintText = try optionalFingerprint(fingerprint)
        deliver(try ring.decrypt(payload: sealed, aad: aadBytes, tenant: tenantText, fingerprint: fingerprintText), to: out)
        return .ok
    }
}
