import CCrypto
import Glibc

/// Key material in its own `malloc` allocation, wiped with `OPENSSL_cleanse` when released.
/// Immutable once filled, so it may be shared across threads. Swift arrays are never used for
/// keys: they copy freely and cannot be wiped.
public final class SecretBytes: @unchecked Sendable {
    let base: UnsafeMutablePointer<UInt8>
    public let count: Int

    /// `count` zero bytes, to be filled by the creator before the object is shared.
    init(zeroedCount count: Int) throws(CachekitError) {
        guard count >= 0 else { throw CachekitError(.invalidArgument, "negative key size") }
        guard let raw = calloc(max(count, 1), 1) else {
            throw CachekitError(.outOfMemory, "could not allocate \(count) bytes for key material")
        }
        base = raw.assumingMemoryBound(to: UInt8.self)
        self.count = count
    }

    public convenience init(copying bytes: UnsafeRawBufferPointer) throws(CachekitError) {
        try self.init(zeroedCount: bytes.count)
        if let source = bytes.baseAddress, bytes.count > 0 {
            UnsafeMutableRawPointer(base).copyMemory(from: source, byteCount: bytes.count)
        }
    }

    public convenience init(copying bytes: [UInt8]) throws(CachekitError) {
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

    /// Whether `text` contains these bytes (an empty secret is in nothing): for withholding
    /// text that repeats a credential.
    public func occurs(in text: UnsafeRawBufferPointer) -> Bool {
        guard count > 0, text.count >= count else { return false }
        // By hand: memmem is a GNU extension the Glibc module does not export; texts are short.
        let secret = bytes
        return (0...(text.count &- count)).contains { start in
            (0..<count).allSatisfy { text[start &+ $0] == secret[$0] }
        }
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

extension SecretBytes {
    /// Wipes a temporary copy of secret text before it is released (Swift arrays are not wiped
    /// on their own).
    public static func wipe(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { OPENSSL_cleanse($0.baseAddress, $0.count) }
    }
}
