import CCrypto
import Glibc

/// Key material in its own `malloc` allocation, wiped with `OPENSSL_cleanse` when released.
/// Immutable once filled, so it may be shared across threads. Swift arrays are never used for
/// keys: they copy freely and cannot be wiped.
public final class SecretBytes: @unchecked Sendable {
    let base: UnsafeMutablePointer<UInt8>
    public let count: Int

    /// `count` zero bytes, to be filled by the creator before the object is shared.
    init(zeroedCount count: Int) throws(CacheKitError) {
        guard count >= 0 else { throw CacheKitError(.invalidArgument, "negative key size") }
        guard let raw = calloc(max(count, 1), 1) else {
            throw CacheKitError(.outOfMemory, "could not allocate \(count) bytes for key material")
        }
        base = raw.assumingMemoryBound(to: UInt8.self)
        self.count = count
    }

    public convenience init(copying bytes: UnsafeRawBufferPointer) throws(CacheKitError) {
        try self.init(zeroedCount: bytes.count)
        if let source = bytes.baseAddress, bytes.count > 0 {
            UnsafeMutableRawPointer(base).copyMemory(from: source, byteCount: bytes.count)
        }
    }

    public convenience init(copying bytes: [UInt8]) throws(CacheKitError) {
        try self.init(zeroedCount: bytes.count)
        let destination = UnsafeMutableRawPointer(base)
        bytes.withUnsafeBytes { source in
            if let start = source.baseAddress { destination.copyMemory(from: start, byteCount: source.count) }
        }
    }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }
    var mutableBytes: UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(start: base, count: count) }

    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(bytes)
    }

    /// Constant-time comparison (CRYPTO_memcmp); lengths are not secret.
    public func isEqual(to other: SecretBytes) -> Bool {
        count == other.count && CRYPTO_memcmp(base, other.base, count) == 0
    }

    deinit {
        OPENSSL_cleanse(base, count)
        free(base)
    }
}

/// Hexadecimal decoding straight into wiped memory, and encoding for fingerprints.
public enum Hex {
    /// Decodes `text` (ASCII hex digits, either case; surrounding ASCII whitespace ignored).
    /// Errors name the position of a bad digit but never echo the input: it is key material.
    public static func decodeSecret(_ text: UnsafeRawBufferPointer, what: String) throws(CacheKitError) -> SecretBytes {
        var start = 0
        var end = text.count
        while start < end, isSpace(text[start]) { start &+= 1 }
        while end > start, isSpace(text[end &- 1]) { end &-= 1 }
        let digits = end &- start
        guard digits % 2 == 0 else {
            throw CacheKitError(.invalidHex, "\(what) has an odd number of hex digits (\(digits))")
        }
        let secret = try SecretBytes(zeroedCount: digits / 2)
        var index = 0
        while index < secret.count {
            let position = start &+ 2 &* index
            guard let high = nibble(text[position]), let low = nibble(text[position &+ 1]) else {
                let bad = nibble(text[position]) == nil ? position &- start : position &- start &+ 1
                throw CacheKitError(.invalidHex, "\(what) has a non-hex character at position \(bad)")
            }
            secret.base[index] = high << 4 | low
            index &+= 1
        }
        return secret
    }

    public static func decodeSecret(_ text: String, what: String) throws(CacheKitError) -> SecretBytes {
        try withUTF8Bytes(text) { utf8 throws(CacheKitError) in try decodeSecret(utf8, what: what) }
    }

    /// Lowercase hex, through the one encoder the keys use (`hexString`).
    public static func encode(_ bytes: UnsafeRawBufferPointer) -> String { hexString(bytes) }

    public static func encode(_ bytes: [UInt8]) -> String {
        bytes.withUnsafeBytes { encode($0) }
    }

    /// Plain (non-secret) decoding for tests and fingerprints; nil when not valid hex.
    public static func decode(_ text: String) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index &+ 1]) else { return nil }
            out.append(high << 4 | low)
            index &+= 2
        }
        return out
    }

    static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c &- UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c &- UInt8(ascii: "a") &+ 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c &- UInt8(ascii: "A") &+ 10
        default: return nil
        }
    }

    static func isSpace(_ c: UInt8) -> Bool {
        c == 0x20 || c == 0x09 || c == 0x0a || c == 0x0d
    }
}
