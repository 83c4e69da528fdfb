import CBlake2

/// Unkeyed Blake2b with a chosen digest size, from libb2 (OpenSSL 3.0 has no 32-byte Blake2b).
public enum Blake2b {
    public static func hash(_ data: UnsafeRawBufferPointer, digestSize: Int = 32) throws(CachekitError) -> [UInt8] {
        guard digestSize >= 1, digestSize <= 64 else {
            throw CachekitError(.invalidArgument, "Blake2b digest size must be 1..64 bytes")
        }
        var out = [UInt8](repeating: 0, count: digestSize)
        let status = out.withUnsafeMutableBytes { outBytes in
            blake2b(outBytes.baseAddress, data.baseAddress, nil, digestSize, data.count, 0)
        }
        guard status == 0 else { throw CachekitError(.internal, "libb2 blake2b failed") }
        return out
    }

    /// Hashes `data` into `digest` (1...64 bytes: the digest size), with no allocation.
    static func hash(_ data: UnsafeRawBufferPointer, into digest: UnsafeMutableRawBufferPointer) throws(CachekitError) {
        guard digest.count >= 1, digest.count <= 64,
              blake2b(digest.baseAddress, data.baseAddress, nil, digest.count, data.count, 0) == 0 else {
            throw CachekitError(.internal, "libb2 blake2b failed")
        }
    }

    public static func hex(_ data: UnsafeRawBufferPointer, digestSize: Int = 32) throws(CachekitError) -> String {
        hexString(try hash(data, digestSize: digestSize))
    }

    public static func hex(_ bytes: [UInt8], digestSize: Int = 32) throws(CachekitError) -> String {
        try withBytes(bytes) { raw throws(CachekitError) in try hex(raw, digestSize: digestSize) }
    }
}
