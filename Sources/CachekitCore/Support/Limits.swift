/// The limits of cachekit-core, shared by every layer (the header documents each one beside
/// the functions it bounds).
public enum Limits {
    public static let maxUncompressedSize = 536_870_912
    public static let maxCompressedSize = 536_870_912
    public static let maxCompressionRatio = 1000

    /// Keys in one batch call (cachekit_cache_get_many, cachekit_cache_drain_registry): 2^20.
    public static let maxBatchKeys = 1 << 20
    /// A NUL-terminated text argument the cache reads (option names and values, namespaces,
    /// registry ids) is shorter than this many bytes: 1 MiB.
    public static let maxTextArgumentBytes = 1 << 20
    /// A cache key, without the key prefix.
    public static let maxCacheKeyLength = 4096
    /// A namespace given to namespace invalidation.
    public static let maxNamespaceLength = 1024
}
