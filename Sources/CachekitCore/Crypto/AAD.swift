/// cachekit's AAD v0x03: the byte 0x03, then each component as u32be(length) || UTF-8 bytes:
/// tenant, cache key (as authenticated: the full Redis key in auto mode), format ("msgpack"),
/// compressed ("True"/"False", Python's spelling) and, when the writer sets it, original_type
/// ("msgpack" in Python auto mode). Exported to C as `cachekit_aad_v3`.
public enum AAD {
    public static let version: UInt8 = 0x03

    public static func v3(
        tenant: String, cacheKey: String, format: String, compressed: Bool, originalType: String?
    ) throws(CachekitError) -> [UInt8] {
        // Written in one pass from the strings' UTF-8 (every encrypted read builds one; the
        // array-of-arrays form below costs five allocations more).
        guard !tenant.isEmpty else { throw CachekitError(.tenantLength, "AAD tenant is empty") }
        guard !cacheKey.isEmpty else { throw CachekitError(.invalidArgument, "AAD cache key is empty") }
        var total = 1 &+ 16 &+ tenant.utf8.count &+ cacheKey.utf8.count &+ format.utf8.count &+ (compressed ? 4 : 5)
        if let originalType { total = total &+ 4 &+ originalType.utf8.count }
        let longest = max(tenant.utf8.count, cacheKey.utf8.count, format.utf8.count, originalType?.utf8.count ?? 0)
        guard longest <= Int(UInt32.max) else {
            throw CachekitError(.tooLarge, "AAD component of \(longest) bytes does not fit a u32 length")
        }
        // Array.append(contentsOf: String.UTF8View) goes element by element; copyUTF8 is a memcpy.
        return [UInt8](unsafeUninitializedCapacity: total) { buffer, initialized in
            guard let base = buffer.baseAddress else { return }
            base[0] = version
            var at = 1
            func component(_ text: String) {
                let count = text.utf8.count
                let length = UInt32(truncatingIfNeeded: count)
                base[at] = UInt8(truncatingIfNeeded: length >> 24)
                base[at &+ 1] = UInt8(truncatingIfNeeded: length >> 16)
                base[at &+ 2] = UInt8(truncatingIfNeeded: length >> 8)
                base[at &+ 3] = UInt8(truncatingIfNeeded: length)
                at = at &+ 4
                copyUTF8(text, into: buffer, at: &at)
            }
            component(tenant)
            component(cacheKey)
            component(format)
            component(compressed ? "True" : "False")
            if let originalType { component(originalType) }
            initialized = at
        }
    }

    private static func appendLength(_ count: Int, to out: inout [UInt8]) {
        let length = UInt32(truncatingIfNeeded: count)
        out.append(UInt8(truncatingIfNeeded: length >> 24))
        out.append(UInt8(truncatingIfNeeded: length >> 16))
        out.append(UInt8(truncatingIfNeeded: length >> 8))
        out.append(UInt8(truncatingIfNeeded: length))
    }

    /// Builds the AAD from raw components (4 or 5). The tenant and cache key may not be empty:
    /// cachekit refuses to encrypt without them, since they are what binds a ciphertext to its place.
    public static func v3(components: [[UInt8]]) throws(CachekitError) -> [UInt8] {
        guard components.count == 4 || components.count == 5 else {
            throw CachekitError(.invalidArgument, "AAD v0x03 has 4 or 5 components, got \(components.count)")
        }
        guard !components[0].isEmpty else { throw CachekitError(.tenantLength, "AAD tenant is empty") }
        guard !components[1].isEmpty else { throw CachekitError(.invalidArgument, "AAD cache key is empty") }
        var total = 1
        for component in components {
            guard component.count <= Int(UInt32.max) else {
                throw CachekitError(.tooLarge, "AAD component of \(component.count) bytes does not fit a u32 length")
            }
            total = total &+ 4 &+ component.count
        }
        var out = [UInt8]()
        out.reserveCapacity(total)
        out.append(version)
        for component in components {
            appendLength(component.count, to: &out)
            out.append(contentsOf: component)
        }
        return out
    }
}
