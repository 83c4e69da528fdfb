// The standard library's `withUTF8` / `withUnsafeBytes` rethrow untyped errors; these keep the
// core's typed `throws(CachekitError)` intact.

func withUTF8Bytes<R>(
    _ text: String, _ body: (UnsafeRawBufferPointer) throws(CachekitError) -> R
) throws(CachekitError) -> R {
    var copy = text
    let result: Result<R, CachekitError> = copy.withUTF8 { utf8 in
        do throws(CachekitError) { return .success(try body(UnsafeRawBufferPointer(utf8))) } catch { return .failure(error) }
    }
    return try result.get()
}

func withArrayBytes<R>(
    _ array: [UInt8], _ body: (UnsafeRawBufferPointer) throws(CachekitError) -> R
) throws(CachekitError) -> R {
    let result: Result<R, CachekitError> = array.withUnsafeBytes { bytes in
        do throws(CachekitError) { return .success(try body(bytes)) } catch { return .failure(error) }
    }
    return try result.get()
}
