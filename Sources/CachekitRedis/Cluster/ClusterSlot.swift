/// Redis Cluster's key-to-slot mapping: CRC16 of the key (or of its hash tag) modulo 16384.
public enum ClusterSlot {
    public static let count = 16_384

    /// The slot of `key` as `CLUSTER KEYSLOT` computes it: when the key has a `{` followed later
    /// by a `}` with at least one byte between them, only the bytes between the first `{` and
    /// the first `}` after it are hashed (`{user1000}.following`); otherwise the whole key
    /// (`foo{}{bar}` hashes whole, `foo{{bar}}` hashes `{bar`).
    public static func of(_ key: some Collection<UInt8>) -> Int {
        Int(crc16(hashedPart(key)) & 0x3FFF)
    }

    static func hashedPart<Key: Collection<UInt8>>(_ key: Key) -> Key.SubSequence {
        guard let open = key.firstIndex(of: UInt8(ascii: "{")) else { return key[...] }
        let afterOpen = key.index(after: open)
        guard let close = key[afterOpen...].firstIndex(of: UInt8(ascii: "}")), close != afterOpen else { return key[...] }
        return key[afterOpen..<close]
    }

    /// CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0, no reflection), the variant the
    /// Redis Cluster spec names. Hand-written because no Debian library ships exactly this one
    /// (zlib and libxxhash have no CRC16); the table is computed once from the polynomial.
    static func crc16(_ bytes: some Sequence<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc = (crc << 8) ^ table[Int(UInt8(truncatingIfNeeded: crc >> 8) ^ byte)]
        }
        return crc
    }

    private static let table: [UInt16] = (0..<256).map { index in
        var crc = UInt16(index) << 8
        for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        return crc
    }
}
