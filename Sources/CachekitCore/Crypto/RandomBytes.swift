import CCrypto

/// Random bytes from OpenSSL's CSPRNG (the one this library already seeds and reseeds after
/// fork), for values that must not repeat across processes, such as fill-lock tokens.
public enum RandomBytes {
    /// `count` random bytes, or nil when RAND_bytes fails.
    public static func make(_ count: Int) -> [UInt8]? {
        guard count > 0, count <= Int(Int32.max) else { return count == 0 ? [] : nil }
        var bytes = [UInt8](repeating: 0, count: count)
        let ok = bytes.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32(count)) == 1 }
        return ok ? bytes : nil
    }
}
