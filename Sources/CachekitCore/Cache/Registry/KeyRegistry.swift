/// Which keys this cache wrote or tracked under each registry id, so a whole-function event can
/// drop exactly those from L1. Bounded: past `maxKeys` keys it stops recording and marks itself
/// overflowed, and a whole-function event then clears all of L1 (always safe).
struct RegistryIndex {
    let maxKeys: Int
    private(set) var keysByRegistry: [[UInt8]: Set<[UInt8]>] = [:]
    private(set) var count = 0
    private(set) var overflowed = false

    init(maxKeys: Int = 100_000) { self.maxKeys = maxKeys }

    mutating func record(_ registryId: [UInt8], _ key: [UInt8]) {
        if keysByRegistry[registryId]?.contains(key) == true { return }
        guard count < maxKeys else { overflowed = true; return }
        keysByRegistry[registryId, default: []].insert(key)
        count += 1
    }

    mutating func forget(_ registryId: [UInt8], _ key: [UInt8]) {
        if keysByRegistry[registryId]?.remove(key) != nil {
            count -= 1
            if keysByRegistry[registryId]?.isEmpty == true { keysByRegistry[registryId] = nil }
        }
    }

    mutating func forgetAll(_ registryId: [UInt8]) {
        count -= keysByRegistry.removeValue(forKey: registryId)?.count ?? 0
    }

    /// Removes and returns the keys of `registryId`; nil when the index overflowed (the caller
    /// must then clear all of L1, after which the index starts over).
    mutating func take(_ registryId: [UInt8]) -> Set<[UInt8]>? {
        if overflowed {
            keysByRegistry = [:]
            count = 0
            overflowed = false
            return nil
        }
        let keys = keysByRegistry.removeValue(forKey: registryId) ?? []
        count -= keys.count
        return keys
    }
}

/// The index, shared by a cache and its listener thread.
final class SharedRegistryIndex: Sendable {
    let state: Locked<RegistryIndex>
    init(maxKeys: Int = 100_000) { state = Locked(RegistryIndex(maxKeys: maxKeys)) }
}

/// cachekit-py 0.24.1's key registry: a Redis set per function (its registry id) holding the
/// raw keys written under it, so a whole-function invalidation can find them from any process.
public enum KeyRegistry {
    /// How long a tracking set lives after its last write, as cachekit-py's.
    public static let setTTLSeconds = 604_800
    public static let maxIdLength = 4096
    static let idPrefix = "ck:reg:"

    /// The tracking set's Redis name: key_prefix + registry id. Only "ck:reg:..." ids are taken,
    /// so the registry calls cannot write into or drain an arbitrary key.
    static func setName(_ registryId: String, keyPrefix: [UInt8]) throws(CachekitError) -> [UInt8] {
        let bytes = Array(registryId.utf8)
        guard bytes.count > idPrefix.utf8.count, bytes.count <= maxIdLength, bytes.starts(with: idPrefix.utf8) else {
            throw CachekitError(.invalidArgument,
                                "the registry id must start with \"\(idPrefix)\" and be at most \(maxIdLength) bytes")
        }
        return keyPrefix + bytes
    }

    /// Applies one event to L1: {"r","k"} drops key_prefix + k; {"r"} drops every key this cache
    /// wrote or tracked under r, or all of L1 when the index overflowed.
    static func apply(_ event: InvalidationEvent, l1: L1Cache, index: SharedRegistryIndex, prefix: [UInt8]) {
        if let key = event.key {
            guard !key.isEmpty else { return }
            index.state.withLock { $0.forget(event.registryId, key) }
            (prefix + key).withUnsafeBytes { _ = l1.remove($0) }
            return
        }
        guard let keys = index.state.withLock({ $0.take(event.registryId) }) else {
            l1.removeAll()
            return
        }
        for key in keys { (prefix + key).withUnsafeBytes { _ = l1.remove($0) } }
    }
}
