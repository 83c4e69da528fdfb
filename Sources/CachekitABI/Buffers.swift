import CCachekitHeader
import Glibc

/// Exported to C as `cachekit_buffer_free`.
@_cdecl("cachekit_buffer_free") @implementation
public func cachekit_buffer_free(_ buffer: UnsafeMutablePointer<cachekit_buffer>?) {
    guard let buffer else { return }
    free(buffer.pointee.data)
    buffer.pointee = cachekit_buffer(data: nil, len: 0)
}
