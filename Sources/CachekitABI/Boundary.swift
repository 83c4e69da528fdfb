import CachekitCore
import CCachekitShims
import CCachekitHeader

// The one place where core errors become C statuses (dmlc API_BEGIN/API_END style): every
// exported function runs its body through `boundary`, which records the message for
// `cachekit_last_error_message` and drains OpenSSL's error queue so no stale error leaks into a
// later call.

@inline(__always)
func boundary(_ body: () throws(CachekitError) -> Status) -> Int32 {
    do {
        let status = try body()
        ckshim_error_clear()
        return status.rawValue
    } catch {
        recordError(error)
        return error.status.rawValue
    }
}

func recordError(_ error: CachekitError) {
    var message = error.message
    message.withUTF8 { utf8 in
        utf8.withMemoryRebound(to: CChar.self) { ckshim_error_set($0.baseAddress, $0.count) }
    }
    OpenSSLErrors.clear()
}

/// Hands owned bytes to a caller's `cachekit_buffer`.
@inline(__always)
func deliver(_ bytes: consuming OwnedBytes, to out: UnsafeMutablePointer<cachekit_buffer>) {
    let (pointer, count) = bytes.take()
    out.pointee = cachekit_buffer(data: pointer, len: count)
}

extension StaticString {
    var cString: UnsafePointer<CChar> {
        UnsafeRawPointer(utf8Start).assumingMemoryBound(to: CChar.self)
    }
}
