import CCachekitHeader
import CCachekitShims

// Both values come from the header's CACHEKIT_VERSION_* macros, the one place the version is written.

/// Exported to C as `cachekit_version_string`.
@_cdecl("cachekit_version_string") @implementation
public func cachekit_version_string() -> UnsafePointer<CChar>? {
    ckshim_version_string()
}

/// Exported to C as `cachekit_version_number`.
@_cdecl("cachekit_version_number") @implementation
public func cachekit_version_number() -> UInt32 {
    UInt32(CACHEKIT_VERSION_MAJOR * 10000 + CACHEKIT_VERSION_MINOR * 100 + CACHEKIT_VERSION_PATCH)
}
