/// AAD v0x03 as cachekit-py builds it: 0x03, then u32be(length) ‖ UTF-8 for tenant, the cache key
/// as authenticated, "msgpack", "True"/"False", and original_type when present.
func aadV3(tenant: String, key: String, compressed: Bool, originalType: String?) throws(CacheKitError) -> [UInt8] {
    guard !key.isEmpty else { throw CacheKitError(.invalidArgument, "an encrypted entry needs a non-empty cache key") }
    var components: [[UInt8]] = [Array(tenant.utf8), Array(key.utf8), Array("msgpack".utf8),
                                 Array((compressed ? "True" : "False").utf8)]
    if let originalType, !originalType.isEmpty { components.append(Array(originalType.utf8)) }
    var aad: [UInt8] = [0x03]
    for component in components {
        guard let length = UInt32(exactly: component.count) else {
            throw CacheKitError(.tooLarge, "AAD component exceeds 4 GiB")
        }
        withUnsafeBytes(of: length.bigEndian) { aad.append(contentsOf: $0) }
        aad.append(contentsOf: component)
    }
    return aad
}
