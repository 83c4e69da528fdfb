import CachekitCore
import CCachekitHeader
import Glibc

// The entries section of include/cachekit.h.

private func entryArguments(
    mode: Int32, key: UnsafePointer<CChar>?, keyring handle: OpaquePointer?, tenant: UnsafePointer<CChar>?,
    flags: UInt32
) throws(CachekitError) -> (EntryMode, String, EntrySecurity?) {
    guard let entryMode = EntryMode(rawValue: mode) else {
        throw CachekitError(.invalidArgument, "unknown entry mode \(mode) (expected 0 auto, 1 minimal, 2 interop)")
    }
    guard flags & ~CACHEKIT_ENTRY_REQUIRE_TENANT == 0 else {
        throw CachekitError(.invalidArgument, "unknown entry flags \(flags)")
    }
    let keyText = try optionalUTF8(key, "key") ?? ""
    guard let handle else { return (entryMode, keyText, nil) }
    let keyring = try object(handle, as: Keyring.self, "keyring")
    let tenantText = try optionalUTF8(tenant, "tenant") ?? "default"
    guard !tenantText.isEmpty, tenantText.utf8.count <= KeyDerivation.maxTenantLength else {
        throw CachekitError(.tenantLength, "tenant must be 1..\(KeyDerivation.maxTenantLength) bytes")
    }
    guard !keyText.isEmpty else {
        throw CachekitError(.invalidArgument, "an encrypted entry needs the key its AAD binds")
    }
    let security = EntrySecurity(keyring: keyring, tenant: tenantText,
                                 requireTenantMatch: flags & CACHEKIT_ENTRY_REQUIRE_TENANT != 0)
    return (entryMode, keyText, security)
}

/// Exported to C as `cachekit_entry_encode`.
@_cdecl("cachekit_entry_encode") @implementation
public func cachekit_entry_encode(
    _ inner: UnsafePointer<UInt8>?, _ innerCount: Int, _ mode: Int32, _ key: UnsafePointer<CChar>?,
    _ keyring: OpaquePointer?, _ tenant: UnsafePointer<CChar>?, _ flags: UInt32,
    _ out: UnsafeMutablePointer<cachekit_buffer>?
) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        let input = try inputBytes(inner, innerCount, "inner")
        let out = try required(out, "out")
        let (entryMode, keyText, security) = try entryArguments(mode: mode, key: key, keyring: keyring,
                                                                tenant: tenant, flags: flags)
        deliver(try Entry.encode(inner: input, mode: entryMode, key: keyText, security: security), to: out)
        return .ok
    }
}

/// Exported to C as `cachekit_entry_decode`.
@_cdecl("cachekit_entry_decode") @implementation
public func cachekit_entry_decode(
    _ value: UnsafePointer<UInt8>?, _ valueCount: Int, _ mode: Int32, _ key: UnsafePointer<CChar>?,
    _ keyring: OpaquePointer?, _ tenant: UnsafePointer<CChar>?, _ flags: UInt32,
    _ out: UnsafeMutablePointer<cachekit_buffer>?
) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        let input = try inputBytes(value, valueCount, "value")
        let out = try required(out, "out")
        let (entryMode, keyText, security) = try entryArguments(mode: mode, key: key, keyring: keyring,
                                                                tenant: tenant, flags: flags)
        deliver(try Entry.decode(input, mode: entryMode, key: keyText, security: security), to: out)
        return .ok
    }
}
