import CXXHash

/// xxHash3-64, seed 0 (cachekit's envelope checksum), through libxxhash.
public enum XXH3 {
    @inline(__always)
    public static func hash64(_ data: UnsafeRawBufferPointer) -> UInt64 {
        XXH3_64bits(data.baseAddress, data.count)
    }
}
