import CachekitCore
import CCachekitHeader
import Glibc

/// Exported to C as `cachekit_buffer_free`.
@_cdecl("cachekit_buffer_free") @implementation
public func cachekit_buffer_free(_ buffer: UnsafeMutablePointer<cachekit_buffer>?) {
    guard let buffer else { return }
    free(buffer.pointee.data)
    buffer.pointee = cachekit_buffer(data: nil, len: 0)
}

/// Exported to C as `cachekit_buffer_set`.
@_cdecl("cachekit_buffer_set") @implementation
public func cachekit_buffer_set(_ buffer: UnsafeMutablePointer<cachekit_buffer>?, _ data: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        let buffer = try required(buffer, "buf")
        let copy = try OwnedBytes(copying: try inputBytes(data, count, "data"))
        free(buffer.pointee.data)
        deliver(copy, to: buffer)
        return .ok
    }
}
