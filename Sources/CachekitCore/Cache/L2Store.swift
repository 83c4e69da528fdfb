/// The second tier as the cache sees it: exactly the operations `Cache` calls. `RedisL2` is the
/// production store; Swift tests inject an in-memory one. Every operation may throw a backend
/// status; what such a failure means to the cache's caller is decided in FailOpen.swift.
public protocol L2Store: Sendable {
    /// GET; nil when absent (`ttlMilliseconds` nil).
    func get(_ key: [UInt8]) throws(CachekitError) -> StoredValue?
    /// GET and PTTL in one round trip.
    func getWithTTL(_ key: [UInt8]) throws(CachekitError) -> StoredValue?
    /// One value (or nil) per key, in order, with PTTL when `withTTL`.
    func getMany(_ keys: [[UInt8]], withTTL: Bool) throws(CachekitError) -> [StoredValue?]
    /// Stores for `ttlSeconds` (0: no expiry).
    func set(_ key: [UInt8], _ value: UnsafeRawBufferPointer, ttlSeconds: Int) throws(CachekitError)
    /// Stores, adds `member` to the tracking `set` and refreshes the set's TTL, in one round trip.
    func set(_ key: [UInt8], _ value: UnsafeRawBufferPointer, ttlSeconds: Int,
             tracking member: UnsafeRawBufferPointer, in set: [UInt8], setTTLSeconds: Int) throws(CachekitError)
    /// Deletes `keys`; returns how many existed.
    func delete(_ keys: [[UInt8]]) throws(CachekitError) -> Int
    func exists(_ key: [UInt8]) throws(CachekitError) -> Bool
    /// Deletes every key starting with `prefix`; returns how many were removed.
    func deleteAll(withPrefix prefix: [UInt8]) throws(CachekitError) -> Int
    /// Adds `member` to the tracking `set` and refreshes its TTL.
    func track(set: [UInt8], member: UnsafeRawBufferPointer, ttlSeconds: Int) throws(CachekitError)
    /// Pops every member of `set`, deletes `keyPrefix + member` for each and hands it to `popped`.
    func drain(set: [UInt8], keyPrefix: [UInt8], popped: ([UInt8]) -> Void) throws(CachekitError) -> Bool
    /// UNLINKs `keys`; returns how many existed.
    func unlink(_ keys: [[UInt8]]) throws(CachekitError) -> Int
    /// Publishes `message` on `channel`; returns the number of receivers.
    func publish(channel: [UInt8], message: [UInt8]) throws(CachekitError) -> Int
    /// A round trip; returns its duration in nanoseconds.
    func ping() throws(CachekitError) -> Int
    // Bulk operations (defaults in L2Store+Bulk.swift run the single calls one by one).
    /// Stores every entry for `ttlSeconds` (0: no expiry) in one round trip.
    func setMany(_ entries: [(key: [UInt8], value: UnsafeRawBufferPointer)], ttlSeconds: Int) throws(CachekitError)
    /// Deletes each key in one round trip; for each, whether it existed.
    func deleteEach(_ keys: [[UInt8]]) throws(CachekitError) -> [Bool]
    /// The key's remaining lifetime as PTTL answers it: milliseconds, -1 no expiry, -2 absent.
    func remainingTTL(_ key: [UInt8]) throws(CachekitError) -> Int64
    /// Where the store is, without credentials (for the health report).
    var redactedDescription: String { get }
    /// A few words on the store's own state for the health report (empty: nothing to add).
    var healthSummary: String { get }
}

extension L2Store {
    public var healthSummary: String { "" }
}

/// A value read from the second tier, either owned or read in place from memory an owner keeps
/// alive, and its remaining lifetime: PTTL's answer in milliseconds (-1: no expiry,
/// -2: the key expired between GET and PTTL), or nil when not asked.
public struct StoredValue {
    private enum Storage {
        case borrowed(owner: AnyObject, bytes: UnsafeRawBufferPointer)
        case owned([UInt8])
    }

    private let storage: Storage
    public let ttlMilliseconds: Int64?

    /// `bytes` must stay valid for as long as `owner` lives.
    public init(owner: AnyObject, bytes: UnsafeRawBufferPointer, ttlMilliseconds: Int64?) {
        storage = .borrowed(owner: owner, bytes: bytes)
        self.ttlMilliseconds = ttlMilliseconds
    }

    /// Bytes the value owns (a reply already copied out of the protocol reader).
    public init(bytes: [UInt8], ttlMilliseconds: Int64?) {
        storage = .owned(bytes)
        self.ttlMilliseconds = ttlMilliseconds
    }

    public func withBytes<R: ~Copyable, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        switch storage {
        case .borrowed(let owner, let bytes):
            return try withExtendedLifetime(owner) { () throws(E) -> R in try body(bytes) }
        case .owned(let bytes):
            // Array.withUnsafeBytes takes no ~Copyable result; the array outlives the call here.
            return try withExtendedLifetime(bytes) { () throws(E) -> R in
                try body(UnsafeRawBufferPointer(start: bytes.withUnsafeBytes { $0.baseAddress }, count: bytes.count))
            }
        }
    }
}
