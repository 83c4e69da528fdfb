/// cachekit's AAD v0x03: the byte 0x03, then each component as u32be(length) || UTF-8 bytes:
/// tenant, cache key (as authenticated: the full Redis key in auto mode), format ("msgpack"),
/// compressed ("True"/"False", Python's spelling) and, when the writer sets it, original_type
/// ("msgpack" in Python auto mode). Exported to C as `cachekit_aad_v3`.
public enum AAD {
    public static let version: UInt8 = 0x03

    public static func v3(
        tenant: String, cacheKey: String, format: String, compressed: Bool, originalType: String?
    ) throws(CachekitError) -> [UInt8] {
        var components: [[UInt8]] = [Array(tenant.utf8), Array(cacheKey.utf8), Array(format.utf8),
                                     Array((compressed ? "True" : "False").utf8)]
        if let originalType { components.append(Array(originalType.utf8)) }
        return try v3(components: components)
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
            let length = UInt32(truncatingIfNeeded: component.count)
            out.append(UInt8(truncatingIfNeeded: length >> 24))
            out.append(UInt8(truncatingIfNeeded: length >> 16))
            out.append(UInt8(truncatingIfNeeded: length >> 8))
            out.append(UInt8(truncatingIfNeeded: length))
            out.append(contentsOf: component)
        }
        return out
    }
}
