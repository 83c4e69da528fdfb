import CachekitCore
import CCachekitHeader
import Glibc

// Every reader of a C argument: pointers, buffers, text, tenants, TTLs, registry ids and key
// lists. Text that is not UTF-8 is CACHEKIT_E_INVALID_UTF8 from every reader; limits are the
// core's (Limits, KeyDerivation) and documented in the header beside each function.

/// A required pointer.
@inline(__always)
func required<T>(_ pointer: T?, _ name: StaticString) throws(CachekitError) -> T {
    guard let pointer else { throw CachekitError(.nullPointer, "\(name) is NULL") }
    return pointer
}

/// A `size_t` argument. Swift imports `size_t` as `Int`, so 2^63 and more arrive negative: no
/// object is that large, so such a size is refused here, never read as a negative count.
@inline(__always)
func size(_ value: Int, _ name: StaticString) throws(CachekitError) -> Int {
    guard value >= 0 else {
        throw CachekitError(.invalidArgument, "\(name) is \(UInt(bitPattern: value)), larger than the address space")
    }
    return value
}

/// A C input buffer: NULL is accepted only with length 0.
@inline(__always)
func inputBytes(_ pointer: UnsafePointer<UInt8>?, _ count: Int, _ name: StaticString) throws(CachekitError) -> UnsafeRawBufferPointer {
    let count = try size(count, name)
    guard let pointer else {
        guard count == 0 else { throw CachekitError(.nullPointer, "\(name) is NULL but its length is \(count)") }
        return UnsafeRawBufferPointer(start: nil, count: 0)
    }
    return UnsafeRawBufferPointer(start: pointer, count: count)
}

/// A C output buffer: NULL is accepted only with capacity 0.
func outputBytes(
    _ pointer: UnsafeMutablePointer<UInt8>?, _ capacity: Int, _ name: StaticString
) throws(CachekitError) -> UnsafeMutableRawBufferPointer {
    let capacity = try size(capacity, name)
    guard let pointer else {
        guard capacity == 0 else { throw CachekitError(.nullPointer, "\(name) is NULL but its capacity is \(capacity)") }
        return UnsafeMutableRawBufferPointer(start: nil, count: 0)
    }
    return UnsafeMutableRawBufferPointer(start: pointer, count: capacity)
}

/// A required NUL-terminated UTF-8 argument.
func requiredUTF8(_ pointer: UnsafePointer<CChar>?, _ name: StaticString) throws(CachekitError) -> String {
    let pointer = try required(pointer, name)
    return try utf8Text(UnsafeRawBufferPointer(start: pointer, count: strlen(pointer)), name)
}

/// `requiredUTF8` / `optionalUTF8` as the caller's bytes where they lie (no String).
func requiredUTF8Bytes(_ pointer: UnsafePointer<CChar>?, _ name: StaticString) throws(CachekitError) -> UnsafeRawBufferPointer {
    let pointer = try required(pointer, name)
    return try checkedUTF8(UnsafeRawBufferPointer(start: pointer, count: strlen(pointer)), name)
}

func optionalUTF8Bytes(_ pointer: UnsafePointer<CChar>?, _ name: StaticString) throws(CachekitError) -> UnsafeRawBufferPointer? {
    guard let pointer else { return nil }
    return try requiredUTF8Bytes(pointer, name)
}

/// An optional NUL-terminated UTF-8 argument (NULL -> nil).
func optionalUTF8(_ pointer: UnsafePointer<CChar>?, _ name: StaticString) throws(CachekitError) -> String? {
    guard let pointer else { return nil }
    return try requiredUTF8(pointer, name)
}

/// A required NUL-terminated UTF-8 argument shorter than Limits.maxTextArgumentBytes (the
/// cache's option names and values, namespaces, registry ids): a longer one is never scanned
/// to its end.
func boundedUTF8(_ pointer: UnsafePointer<CChar>?, _ name: StaticString) throws(CachekitError) -> String {
    String(decoding: try boundedUTF8Bytes(pointer, name), as: UTF8.self)
}

/// As `boundedUTF8`, but the caller's bytes where they lie, checked as UTF-8 and not copied
/// (for values that are or may carry secrets).
func boundedUTF8Bytes(_ pointer: UnsafePointer<CChar>?, _ name: StaticString) throws(CachekitError) -> UnsafeRawBufferPointer {
    let limit = Limits.maxTextArgumentBytes
    return try checkedUTF8(try cStringBytes(pointer, name, limit: limit &- 1, status: .invalidArgument), name)
}

/// A NUL-terminated C string read as at most `limit` bytes; a longer one throws `status`.
func cStringBytes(
    _ pointer: UnsafePointer<CChar>?, _ name: StaticString, limit: Int, status: Status
) throws(CachekitError) -> UnsafeRawBufferPointer {
    let pointer = try required(pointer, name)
    let length = strnlen(pointer, limit &+ 1)
    guard length <= limit else { throw CachekitError(status, "\(name) is longer than \(limit) bytes") }
    return UnsafeRawBufferPointer(start: pointer, count: length)
}

private func utf8Text(_ bytes: UnsafeRawBufferPointer, _ name: StaticString) throws(CachekitError) -> String {
    String(decoding: try checkedUTF8(bytes, name), as: UTF8.self)
}

private func checkedUTF8(_ bytes: UnsafeRawBufferPointer, _ name: StaticString) throws(CachekitError) -> UnsafeRawBufferPointer {
    guard validUTF8(bytes) else { throw CachekitError(.invalidUTF8, "\(name) is not valid UTF-8") }
    return bytes
}

/// A tenant id as bytes (the core's rule: 1..1024 bytes of UTF-8).
func tenantBytes(_ pointer: UnsafePointer<CChar>?) throws(CachekitError) -> UnsafeRawBufferPointer {
    let bytes = try cStringBytes(pointer, "tenant", limit: KeyDerivation.maxTenantLength, status: .tenantLength)
    try KeyDerivation.checkTenant(bytes)
    return bytes
}

/// A tenant id as text.
func tenantString(_ pointer: UnsafePointer<CChar>?) throws(CachekitError) -> String {
    String(decoding: try tenantBytes(pointer), as: UTF8.self)
}

/// An optional key fingerprint (NULL -> nil): exactly KeyDerivation.fingerprintHexLength bytes
/// of text, else CACHEKIT_E_INVALID_FINGERPRINT (a fingerprint is hex, so bytes that are not
/// UTF-8 are a malformed fingerprint, not a text error); the keyring checks the digits.
func optionalFingerprint(_ pointer: UnsafePointer<CChar>?) throws(CachekitError) -> String? {
    guard let pointer else { return nil }
    let length = KeyDerivation.fingerprintHexLength
    let bytes = UnsafeRawBufferPointer(start: pointer, count: strnlen(pointer, length &+ 1))
    guard bytes.count == length, let text = String(validating: bytes, as: UTF8.self) else {
        throw CachekitError(.invalidFingerprint, "fingerprint must be \(length) lowercase hex digits")
    }
    return text
}

/// A TTL in seconds: -1 the cache's default (nil), 0 no expiry, else seconds.
func ttl(_ seconds: Int64) throws(CachekitError) -> Int? {
    guard seconds >= -1 else { throw CachekitError(.invalidArgument, "ttl_seconds must be >= -1") }
    guard seconds != -1 else { return nil }
    guard let value = Int(exactly: seconds) else { throw CachekitError(.invalidArgument, "ttl_seconds out of range") }
    return value
}

/// A registry id: bounded UTF-8 text (its shape and length are checked by the cache).
func registryId(_ pointer: UnsafePointer<CChar>?) throws(CachekitError) -> String {
    try boundedUTF8(pointer, "registry_id")
}

/// The number of keys of a batch call: 0..Limits.maxBatchKeys.
func batchCount(_ count: Int) throws(CachekitError) -> Int {
    guard try size(count, "count") <= Limits.maxBatchKeys else {
        throw CachekitError(.invalidArgument, "count must be at most \(Limits.maxBatchKeys)")
    }
    return count
}

/// `count` keys given as parallel arrays of pointers and lengths (both required when count > 0).
func keyList(_ keys: UnsafePointer<UnsafePointer<UInt8>?>?, _ lengths: UnsafePointer<Int>?, count: Int,
             _ keysName: StaticString, _ lengthsName: StaticString,
             _ elementName: StaticString) throws(CachekitError) -> [UnsafeRawBufferPointer] {
    guard count > 0 else { return [] }
    let keys = try required(keys, keysName)
    let lengths = try required(lengths, lengthsName)
    var list: [UnsafeRawBufferPointer] = []
    list.reserveCapacity(count)
    for i in 0..<count { list.append(try inputBytes(keys[i], lengths[i], elementName)) }
    return list
}
