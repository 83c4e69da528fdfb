import CachekitCore
import CCachekitHeader
import CCachekitShims

/// Exported to C as `cachekit_strerror`.
@_cdecl("cachekit_strerror") @implementation
public func cachekit_strerror(_ status: Int32) -> UnsafePointer<CChar>? {
    Status(rawValue: status).staticDescription.cString
}

/// Exported to C as `cachekit_last_error_message`.
@_cdecl("cachekit_last_error_message") @implementation
public func cachekit_last_error_message() -> UnsafePointer<CChar>? {
    ckshim_error_get()
}
