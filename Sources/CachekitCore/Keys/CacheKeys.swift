/// Cache keys exactly as cachekit-py 0.24.1 builds them (key_generator.py, interop.py).
public enum CacheKeys {
    public static let maxKeyLength = 250
    public static let keyPrefixLength = 50
    public static let functionNameMaxLength = 200
    /// Interop keys are at most 64 + 1 + 64 + 1 + 64 characters, all ASCII.
    public static let maxInteropKeyLength = 194

    // MARK: Auto mode

    /// `[ns:{namespace}:]func:{function}:args:{blake2b256}:{ic}{code}`, normalized (spaces and
    /// line breaks to `_`; over 250 characters -> first 50 characters + ":" + 32 hex of its hash).
    /// - Parameters:
    ///   - function: `module.qualname` as Python would spell it; sanitized here.
    ///   - arguments: the positional arguments (an array).
    ///   - keywordArguments: the keyword arguments (a map with string keys), or nil for none.
    ///   - serializer: the serializer identity ("default", or an alias such as "std").
    public static func autoKey(
        namespace: String?, function: String, arguments: MessagePackValue,
        keywordArguments: MessagePackValue?, integrity: Bool, serializer: String = "default"
    ) throws(CachekitError) -> String {
        let hash = try argumentsHash(arguments: arguments, keywordArguments: keywordArguments)
        return try assembleAutoKey(namespace: namespace, function: function, hash: hash, integrity: integrity,
                                   serializer: serializer)
    }

    /// `autoKey` for arguments as MessagePack bytes (what cachekit_key_auto receives; empty means
    /// none): the same key and the same failures, canonicalized without decoding into trees.
    public static func autoKey(
        namespace: String?, function: String, argumentBytes: UnsafeRawBufferPointer,
        keywordArgumentBytes: UnsafeRawBufferPointer, integrity: Bool, serializer: String = "default"
    ) throws(CachekitError) -> String {
        // Canonical bytes are about as long as the input (floats may grow, maps come out sorted).
        var writer = MessagePackEncoder(reservingCapacity: argumentBytes.count &+ keywordArgumentBytes.count &+ 64)
        writer.writeArrayHeader(2)
        let argumentsFailure = try CanonicalStream.document(argumentBytes, name: "args", expected: .array, into: &writer)
        let keywordsFailure = try CanonicalStream.document(keywordArgumentBytes, name: "kwargs", expected: .map, into: &writer)
        if let failure = argumentsFailure ?? keywordsFailure { throw failure }
        let hash = try Blake2b.hex(writer.bytes)
        return try assembleAutoKey(namespace: namespace, function: function, hash: hash, integrity: integrity,
                                   serializer: serializer)
    }

    private static func assembleAutoKey(
        namespace: String?, function: String, hash: String, integrity: Bool, serializer: String
    ) throws(CachekitError) -> String {
        let code = try serializerCode(serializer)
        let name = sanitizeFunctionName(function)
        // Written straight into the string's storage: String `+` and `append` cost hundreds of
        // instructions a piece, a third of the call.
        let pieces: (String, String, String, String) = (namespace.flatMap { $0.isEmpty ? nil : $0 } ?? "", name, hash, code)
        let total = (pieces.0.isEmpty ? 0 : 4 &+ pieces.0.utf8.count) &+ 5 &+ pieces.1.utf8.count &+ 6
            &+ pieces.2.utf8.count &+ 2 &+ pieces.3.utf8.count
        let key = String(unsafeUninitializedCapacity: total) { buffer in
            var at = 0
            if !pieces.0.isEmpty {
                copyUTF8("ns:", into: buffer, at: &at)
                copyUTF8(pieces.0, into: buffer, at: &at)
                copyUTF8(":", into: buffer, at: &at)
            }
            copyUTF8("func:", into: buffer, at: &at)
            copyUTF8(pieces.1, into: buffer, at: &at)
            copyUTF8(":args:", into: buffer, at: &at)
            copyUTF8(pieces.2, into: buffer, at: &at)
            copyUTF8(integrity ? ":1" : ":0", into: buffer, at: &at)
            copyUTF8(pieces.3, into: buffer, at: &at)
            return at
        }
        return try normalizeKey(key)
    }

    /// Blake2b-256 hex of msgpack `[positional, sorted kwargs]` after cachekit's normalization.
    public static func argumentsHash(
        arguments: MessagePackValue, keywordArguments: MessagePackValue?
    ) throws(CachekitError) -> String {
        guard case .array = arguments else {
            throw CachekitError(.invalidArgument, "positional arguments must be a MessagePack array, got \(arguments.typeName)")
        }
        let kwargs = keywordArguments ?? .map([])
        guard case .map = kwargs else {
            throw CachekitError(.invalidArgument, "keyword arguments must be a MessagePack map, got \(kwargs.typeName)")
        }
        let packed = try Canonical.encode(.array([arguments, kwargs]), profile: .autoArguments)
        return try Blake2b.hex(packed)
    }

    /// Python: `[^A-Za-z0-9_.]` -> `_` per character, runs of dots collapsed, cut to 200.
    public static func sanitizeFunctionName(_ raw: String) -> String {
        // Fast path, as in Python: an ASCII identifier path with no ".." is kept (cut to 200).
        var copy = raw
        if copy.withUTF8({ isCleanIdentifier(UnsafeRawBufferPointer($0)) }) { return raw.utf8.count <= functionNameMaxLength ? raw : String(raw.prefix(functionNameMaxLength)) }
        var out: [UInt8] = []
        out.reserveCapacity(raw.utf8.count)
        for scalar in raw.unicodeScalars {
            let allowed = scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)
                || scalar == "_" || scalar == ".")
            let byte: UInt8 = allowed ? UInt8(truncatingIfNeeded: scalar.value) : UInt8(ascii: "_")
            if byte == UInt8(ascii: "."), out.last == UInt8(ascii: ".") { continue }
            out.append(byte)
            if out.count == functionNameMaxLength { break }
        }
        // Collapsing happens before the cut in Python; a run crossing the cut is already collapsed.
        return String(decoding: out, as: UTF8.self)
    }

    /// An ASCII identifier path with no "..": what `sanitizeFunctionName` keeps as it is.
    static func isCleanIdentifier(_ utf8: UnsafeRawBufferPointer) -> Bool {
        var previous: UInt8 = 0
        for byte in utf8 {
            if !isIdentifierByte(byte) || (byte == UInt8(ascii: ".") && previous == byte) { return false }
            previous = byte
        }
        return true
    }

    private static func isIdentifierByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "."): return true
        default: return false
        }
    }

    /// Python's `_normalize_key`: lengths are counted in characters (code points), as Python does.
    public static func normalizeKey(_ key: String) throws(CachekitError) -> String {
        // Fast path: short ASCII keys without spaces or line breaks are already normal.
        if key.utf8.count <= maxKeyLength, Self.isPlainASCII(key) {
            return key
        }
        var scalars = String.UnicodeScalarView()
        var count = 0
        for scalar in key.unicodeScalars {
            scalars.append(scalar == " " || scalar == "\n" || scalar == "\r" ? "_" : scalar)
            count &+= 1
        }
        let normalized = String(scalars)
        guard count > maxKeyLength else { return normalized }
        let hash = try Blake2b.hex(Array(normalized.utf8))
        let prefix = String(String.UnicodeScalarView(normalized.unicodeScalars.prefix(keyPrefixLength)))
        return prefix + ":" + hash.prefix(32)
    }

    /// ASCII without spaces or line breaks, checked over contiguous UTF-8 (a byte loop, not an
    /// iterator per character).
    private static func isPlainASCII(_ key: String) -> Bool {
        var copy = key
        return copy.withUTF8 { isPlainASCII(UnsafeRawBufferPointer($0)) }
    }

    static func isPlainASCII(_ utf8: UnsafeRawBufferPointer) -> Bool {
        guard let base = utf8.baseAddress else { return true }
        // Eight bytes at a time: no high bit, and no byte equal to a space, \n or \r (the
        // classic "has a zero byte" test on the word xor each of them).
        func hasZeroByte(_ word: UInt64) -> Bool {
            (word &- 0x0101_0101_0101_0101) & ~word & 0x8080_8080_8080_8080 != 0
        }
        var index = 0
        while index &+ 8 <= utf8.count {
            let word = UnsafeRawPointer(base).loadUnaligned(fromByteOffset: index, as: UInt64.self)
            if word & 0x8080_8080_8080_8080 != 0 || hasZeroByte(word ^ 0x2020_2020_2020_2020)
                || hasZeroByte(word ^ 0x0a0a_0a0a_0a0a_0a0a) || hasZeroByte(word ^ 0x0d0d_0d0d_0d0d_0d0d) {
                return false
            }
            index &+= 8
        }
        for byte in UnsafeRawBufferPointer(rebasing: utf8[index...])
            where byte >= 0x80 || byte == 0x20 || byte == 0x0a || byte == 0x0d { return false }
        return true
    }

    /// The key's serializer code: one character for the built-in serializers, else "x" + 4 hex.
    public static func serializerCode(_ serializer: String) throws(CachekitError) -> String {
        guard !serializer.isEmpty else { throw CachekitError(.invalidArgument, "serializer name is empty") }
        // A switch, not dictionaries: this runs on every key.
        let canonical: String
        switch serializer {
        case "std", "standard": canonical = "default"
        case "pythonic": canonical = "auto"
        default: canonical = serializer
        }
        switch canonical {
        case "default": return "s"
        case "auto": return "a"
        case "orjson": return "o"
        case "arrow": return "w"
        case "local": return "l"
        default: break
        }
        return "x" + (try Blake2b.hex(Array(canonical.utf8), digestSize: 2))
    }

    // MARK: Redis prefix

    /// `t:{percent-encoded tenant}:` + key: the Redis key of cachekit-py's default backend.
    public static func tenantPrefixed(_ key: String, tenant: String) -> String {
        "t:" + percentEncode(tenant) + ":" + key
    }

    /// Python's `urllib.parse.quote(s, safe="")`: unreserved ASCII stays, the rest is %XX (UTF-8).
    public static func percentEncode(_ text: String) -> String {
        let hex: [UInt8] = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "."),
                 UInt8(ascii: "-"), UInt8(ascii: "~"):
                out.append(byte)
            default:
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0f)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    // MARK: Interop mode

    /// `{namespace}:{operation}:{blake2b256 of the canonical argument array}`.
    public static func interopKey(
        namespace: String, operation: String, arguments: MessagePackValue
    ) throws(CachekitError) -> String {
        try validateSegment(namespace, name: "namespace")
        try validateSegment(operation, name: "operation")
        guard case .array = arguments else {
            throw CachekitError(.invalidArgument, "interop arguments must be a MessagePack array, got \(arguments.typeName)")
        }
        let packed = try Canonical.encode(arguments, profile: .interopArguments)
        return namespace + ":" + operation + ":" + (try Blake2b.hex(packed))
    }

    /// `^[a-z0-9][a-z0-9._-]{0,63}$`, no "..", and a namespace is not "ns" or "nsapi".
    public static func validateSegment(_ segment: String, name: StaticString) throws(CachekitError) {
        let bytes = Array(segment.utf8)
        func allowed(_ byte: UInt8, first: Bool) -> Bool {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"): return true
            case UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"): return !first
            default: return false
            }
        }
        guard !bytes.isEmpty, bytes.count <= 64,
              bytes.enumerated().allSatisfy({ allowed($0.element, first: $0.offset == 0) }) else {
            throw CachekitError(.invalidSegment,
                                "interop \(name) must match ^[a-z0-9][a-z0-9._-]{0,63}$ (lowercase ASCII, 1-64 characters)")
        }
        guard !segment.contains("..") else {
            throw CachekitError(.invalidSegment, "interop \(name) must not contain '..'")
        }
        if name.description == "namespace", segment == "ns" || segment == "nsapi" {
            throw CachekitError(.invalidSegment, "interop namespace '\(segment)' is reserved")
        }
    }
}
