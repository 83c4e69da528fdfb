/// The deployment UUID as cachekit-py reads it: every spelling CPython's `uuid.UUID(text)`
/// accepts (braces, `urn:uuid:`, 32 bare hex digits, hyphens anywhere, any case, and the few
/// forms `int(text, 16)` lets through: surrounding whitespace, `+`, `0x`, `_` between digits),
/// turned into the canonical lowercase 8-4-4-4-12 form cachekit-py derives the tenant key from.
/// Written by hand because it mirrors one Python function's parse, not a standard grammar.
/// Non-ASCII text is refused (Python would also accept Unicode digits and spaces there).
public enum DeploymentUUID {
    /// The canonical form, or nil where `uuid.UUID` raises.
    public static func canonical(_ text: String) -> String? {
        var bytes = Array(text.utf8)
        guard bytes.allSatisfy({ $0 < 0x80 }) else { return nil }
        bytes = removingAll(Array("urn:".utf8), from: bytes)
        bytes = removingAll(Array("uuid:".utf8), from: bytes)
        let isBrace = { (c: UInt8) in c == UInt8(ascii: "{") || c == UInt8(ascii: "}") }
        var slice = bytes[...]
        while let first = slice.first, isBrace(first) { slice.removeFirst() }
        while let last = slice.last, isBrace(last) { slice.removeLast() }
        let digits = slice.filter { $0 != UInt8(ascii: "-") }
        guard digits.count == 32, let value = pythonHexInteger(digits) else { return nil }
        var hex = Hex.encode(value)
        for position in [8, 13, 18, 23] {
            hex.insert("-", at: hex.index(hex.startIndex, offsetBy: position))
        }
        return hex
    }

    /// Whether `text` is already the canonical form (interop mode accepts only that, as
    /// cachekit-py does: other SDKs use the configured string as it is).
    public static func isCanonical(_ text: String) -> Bool { canonical(text) == text }

    private static func removingAll(_ needle: [UInt8], from bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            if index + needle.count <= bytes.count, bytes[index..<index + needle.count].elementsEqual(needle) {
                index += needle.count
            } else {
                out.append(bytes[index])
                index += 1
            }
        }
        return out
    }

    /// `int(text, 16)` for text of at most 32 characters, as 16 big-endian bytes.
    private static func pythonHexInteger(_ text: [UInt8]) -> [UInt8]? {
        let whitespace: Set<UInt8> = [0x20, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x1F]
        var slice = text[...]
        while let first = slice.first, whitespace.contains(first) { slice.removeFirst() }
        while let last = slice.last, whitespace.contains(last) { slice.removeLast() }
        if slice.first == UInt8(ascii: "+") { slice.removeFirst() }
        var afterPrefix = false
        if slice.count >= 2, slice.first == UInt8(ascii: "0"),
           slice.dropFirst().first == UInt8(ascii: "x") || slice.dropFirst().first == UInt8(ascii: "X") {
            slice.removeFirst(2)
            afterPrefix = true
        }
        var nibbles: [UInt8] = []
        var previousWasDigit = afterPrefix  // "0x_f" is allowed; "_f" and "f__f" are not
        for c in slice {
            if c == UInt8(ascii: "_") {
                guard previousWasDigit else { return nil }
                previousWasDigit = false
                continue
            }
            guard let nibble = Hex.nibble(c) else { return nil }
            nibbles.append(nibble)
            previousWasDigit = true
        }
        guard !nibbles.isEmpty, previousWasDigit, nibbles.count <= 32 else { return nil }
        let padded = [UInt8](repeating: 0, count: 32 - nibbles.count) + nibbles
        return (0..<16).map { padded[2 * $0] << 4 | padded[2 * $0 + 1] }
    }
}
