/// `CacheKeys.autoKey` for the bytes a C caller passes (cachekit_key_auto): when the names need
/// no cleaning (an identifier function name of at most 200 bytes, an ASCII namespace with no
/// spaces or line breaks, a built-in serializer) and the key needs no shortening, the key is
/// written straight into the result, digest and hex included, with no `String` on the way
/// (Strings of the three names, the hex and the key were a third of the call). Anything else
/// takes the `String` path, so both give the same key and the same failures in the same order.
extension CacheKeys {
    /// The key's UTF-8 followed by a NUL (`count` includes it). `namespace` and `serializer`
    /// nil: none given (serializer "default").
    public static func autoKeyBytes(
        namespace: UnsafeRawBufferPointer?, function: UnsafeRawBufferPointer, argumentBytes: UnsafeRawBufferPointer,
        keywordArgumentBytes: UnsafeRawBufferPointer, integrity: Bool, serializer: UnsafeRawBufferPointer?
    ) throws(CachekitError) -> OwnedBytes {
        let space = (namespace?.count ?? 0) &+ function.count &+ 64 &+ 20
        if let code = builtInSerializerCode(serializer), function.count <= functionNameMaxLength,
           isCleanIdentifier(function), namespace.map(isPlainASCII) ?? true, space <= maxKeyLength &+ 20 {
            var writer = MessagePackEncoder(reservingCapacity: argumentBytes.count &+ keywordArgumentBytes.count &+ 64)
            writer.writeArrayHeader(2)
            let argumentsFailure = try CanonicalStream.document(argumentBytes, name: "args", expected: .array, into: &writer)
            let keywordsFailure = try CanonicalStream.document(keywordArgumentBytes, name: "kwargs", expected: .map, into: &writer)
            if let failure = argumentsFailure ?? keywordsFailure { throw failure }
            var key = try OwnedBytes(uninitializedCount: space)
            let out = key.mutableBytes  // valid while `key` lives; the local functions write through it
            var at = 0
            func put(_ bytes: UnsafeRawBufferPointer) {
                guard bytes.count > 0 else { return }
                UnsafeMutableRawBufferPointer(rebasing: out[at..<(at &+ bytes.count)]).copyMemory(from: bytes)
                at &+= bytes.count
            }
            func put(_ text: StaticString) { put(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount)) }
            if let namespace, namespace.count > 0 { put("ns:"); put(namespace); put(":") }
            put("func:"); put(function); put(":args:")
            // The digest in the last 32 bytes of the hex's place, then spelled out over it front to back.
            let digest = UnsafeMutableRawBufferPointer(rebasing: out[(at &+ 32)..<(at &+ 64)])
            try withBytes(writer.bytes) { canonical throws(CachekitError) in try Blake2b.hash(canonical, into: digest) }
            let digits: StaticString = "0123456789abcdef"
            for index in 0..<32 {
                let byte = digest[index]
                out[at &+ 2 &* index] = digits.utf8Start[Int(byte >> 4)]
                out[at &+ 2 &* index &+ 1] = digits.utf8Start[Int(byte & 15)]
            }
            at &+= 64
            put(integrity ? ":1" : ":0"); put(code)
            if at <= maxKeyLength {
                out[at] = 0
                key.truncate(to: at &+ 1)
                return key
            }
        }
        let text = try autoKey(namespace: namespace.map { String(decoding: $0, as: UTF8.self) },
                               function: String(decoding: function, as: UTF8.self),
                               argumentBytes: argumentBytes, keywordArgumentBytes: keywordArgumentBytes, integrity: integrity,
                               serializer: serializer.map { String(decoding: $0, as: UTF8.self) } ?? "default")
        let utf8 = Array(text.utf8)
        let result = try OwnedBytes(uninitializedCount: utf8.count &+ 1)
        utf8.withUnsafeBytes { result.mutableBytes.copyMemory(from: $0) }
        result.mutableBytes[utf8.count] = 0
        return result
    }

    /// `serializerCode` for the built-in names (and their aliases), or nil for any other.
    private static func builtInSerializerCode(_ name: UnsafeRawBufferPointer?) -> StaticString? {
        guard let name else { return "s" }
        func named(_ text: StaticString) -> Bool {
            name.count == text.utf8CodeUnitCount && name.elementsEqual(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
        }
        if named("default") || named("std") || named("standard") { return "s" }
        if named("auto") || named("pythonic") { return "a" }
        if named("orjson") { return "o" }
        if named("arrow") { return "w" }
        if named("local") { return "l" }
        return nil
    }
}
