/// Hexadecimal decoding straight into wiped memory, and encoding for fingerprints.
public enum Hex {
    /// Decodes `text` (ASCII hex digits, either case; surrounding ASCII whitespace ignored).
    /// Errors name the position of a bad digit but never echo the input: it is key material.
    public static func decodeSecret(_ text: UnsafeRawBufferPointer, what: String) throws(CachekitError) -> SecretBytes {
        var start = 0
        var end = text.count
        while start < end, isSpace(text[start]) { start &+= 1 }
        while end > start, isSpace(text[end &- 1]) { end &-= 1 }
        let digits = end &- start
        guard digits % 2 == 0 else {
            throw CachekitError(.invalidHex, "\(what) has an odd number of hex digits (\(digits))")
        }
        let secret = try SecretBytes(zeroedCount: digits / 2)
        var index = 0
        while index < secret.count {
            let position = start &+ 2 &* index
            guard let high = nibble(text[position]), let low = nibble(text[position &+ 1]) else {
                let bad = nibble(text[position]) == nil ? position &- start : position &- start &+ 1
                throw CachekitError(.invalidHex, "\(what) has a non-hex character at position \(bad)")
            }
            secret.base[index] = high << 4 | low
            index &+= 1
        }
        return secret
    }

    public static func decodeSecret(_ text: String, what: String) throws(CachekitError) -> SecretBytes {
        try withUTF8Bytes(text) { utf8 throws(CachekitError) in try decodeSecret(utf8, what: what) }
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

/// Lowercase hex.
public func hexString<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
    // Written straight into the string's storage: no digit table or intermediate array per call.
    String(unsafeUninitializedCapacity: bytes.count &* 2) { out in
        var index = 0
        for byte in bytes {
            out[index] = hexDigit(byte >> 4)
            out[index &+ 1] = hexDigit(byte & 0x0f)
            index &+= 2
        }
        return index
    }
}

@inline(__always)
private func hexDigit(_ nibble: UInt8) -> UInt8 {
    nibble < 10 ? nibble &+ 0x30 : nibble &+ 0x57
}
