import CCrypto

/// The two-tier cache: an in-process L1 in front of an optional Redis L2, both holding the same
/// stored bytes (the entry codec's output: ciphertext in secure mode). Reads try L1, then Redis
/// (filling L1 for no longer than the entry has left in Redis); writes go to Redis, then L1.
///
/// Fail-open: a Redis failure (down, paused, restarting, timing out) never fails a read or a
/// write; it is counted in the stats, the L1 keeps serving, and after `failureThreshold`
/// consecutive failures Redis is skipped for `retryIntervalMilliseconds`. Only operations whose
/// purpose is Redis itself (delete, invalidate, health) report a backend status.
/// Thread-safe. Exported to C as `cachekit_cache`.
public final class Cache: @unchecked Sendable {  // prefixBytes is written once, in init
    public let mode: CacheMode
    public let defaultTTLSeconds: Int
    public let maxValueSize: Int
    /// The longest an entry stays in L1 (0: as long as its TTL), so a copy another process has
    /// since changed in Redis is not served for ever.
    let l1LifetimeNanoseconds: Int64
    let prefix: [UInt8]
    let l1: L1Cache
    let l2: RedisL2?
    let codec: any EntryCodec
    /// Stored bytes are the value (interop without encryption): L1 hits need no decode.
    private let storesValueVerbatim: Bool
    /// Unencrypted modes keep the decoded document next to the stored bytes in L1, so a hit is
    /// a copy; secure mode keeps only ciphertext and decrypts at every read.
    private let keepsDecodedView: Bool
    /// The key prefix, in memory the hot path can copy from without reference counting.
    private let prefixBytes: UnsafeMutableRawBufferPointer
    let stats = CacheStats()
    private let flights = SingleFlight()
    private let configSummary: String
    /// Keys written or tracked per registry id, for whole-function invalidation events.
    private let registryIndex = SharedRegistryIndex()
    /// Set when the config enables the invalidation listener (Redis and L1 both present).
    private let listener: InvalidationListener?

    public static let maxKeyLength = 4096

    public init(config: CacheConfig, codec: (any EntryCodec)? = nil) throws(CacheKitError) {
        mode = config.mode
        defaultTTLSeconds = config.effectiveDefaultTTLSeconds
        l1LifetimeNanoseconds = Self.nanoseconds(seconds: config.l1TTLSeconds)
        maxValueSize = config.maxValueSize
        prefix = Array(config.effectiveKeyPrefix.utf8)
        l1 = L1Cache(.init(maxBytes: config.l1MaxBytes, maxEntries: config.l1MaxEntries))
        if let endpoint = config.endpoint {
            l2 = RedisL2(config: config, endpoint: endpoint, stats: stats)
        } else {
            l2 = nil
        }
        if let codec {
            self.codec = codec
        } else {
            self.codec = try Self.defaultCodec(config)
        }
        configSummary = config.description
        storesValueVerbatim = self.codec.storesValueVerbatim
        keepsDecodedView = !storesValueVerbatim && !config.encryptsEntries
        prefixBytes = .allocate(byteCount: max(prefix.count, 1), alignment: 1)
        prefixBytes.copyBytes(from: prefix)
        if config.invalidationListener, let endpoint = config.endpoint, l1.isEnabled {
            // The thread holds L1 and the index, never the cache, so freeing the cache stops it.
            let (l1, index, prefix) = (l1, registryIndex, prefix)
            let listener = InvalidationListener(
                endpoint: endpoint, connectTimeoutMilliseconds: config.connectTimeoutMilliseconds,
                commandTimeoutMilliseconds: config.commandTimeoutMilliseconds) { event in
                    Self.apply(event, l1: l1, index: index, prefix: prefix)
                }
            self.listener = listener
            try listener.start()  // a throw here runs deinit, which frees prefixBytes
        } else {
            listener = nil
        }
    }

    deinit {
        listener?.stop()
        prefixBytes.deallocate()
    }

    /// The entry codec for the configured mode; secure mode (and interop with a master key)
    /// builds the keyring from the configured keys.
    static func defaultCodec(_ config: CacheConfig) throws(CacheKitError) -> any EntryCodec {
        let prefixCount = config.effectiveKeyPrefix.utf8.count
        switch config.mode {
        case .plain: return CachekitEntryCodec(mode: .auto, security: nil, prefixCount: prefixCount)
        case .minimal: return CachekitEntryCodec(mode: .minimal, security: nil, prefixCount: prefixCount)
        case .interop:
            let security = config.hasMasterKey ? try makeSecurity(config) : nil
            return CachekitEntryCodec(mode: .interop, security: security, prefixCount: prefixCount)
        case .secure:
            guard config.hasMasterKey else {
                throw CacheKitError(.modeUnavailable, "secure mode needs master_key (CACHEKIT_MASTER_KEY)")
            }
            return CachekitEntryCodec(mode: .auto, security: try makeSecurity(config), prefixCount: prefixCount)
        }
    }

    private static func makeSecurity(_ config: CacheConfig) throws(CacheKitError) -> EntrySecurity {
        let keyring = try config.withMasterKeys { master, previous throws(CacheKitError) -> Keyring in
            var list: [UInt8] = []
            for (i, key) in previous.enumerated() {
                if i > 0 { list.append(UInt8(ascii: ",")) }
                list.append(contentsOf: key)
            }
            defer { list.withUnsafeMutableBytes { OPENSSL_cleanse($0.baseAddress, $0.count) } }
            return try withBytes(master) { masterBytes throws(CacheKitError) in
                try withBytes(list) { listBytes throws(CacheKitError) in
                    try Keyring.fromHex(master: masterBytes, previousList: previous.isEmpty ? nil : listBytes)
                }
            }
        }
        return EntrySecurity(keyring: keyring, tenant: config.tenant)
    }

    public var description: String { configSummary }
    public var hasL2: Bool { l2 != nil }

    // MARK: Keys

    @inline(__always)
    private func validateKey(_ key: UnsafeRawBufferPointer) throws(CacheKitError) {
        guard key.count > 0 else { throw CacheKitError(.invalidKey, "the cache key is empty") }
        guard key.count <= Self.maxKeyLength else {
            throw CacheKitError(.invalidKey, "the cache key is \(key.count) bytes; at most \(Self.maxKeyLength) are allowed")
        }
    }

    private func fullKey(_ key: UnsafeRawBufferPointer) throws(CacheKitError) -> [UInt8] {
        try validateKey(key)
        var full = prefix
        full.append(contentsOf: key)
        return full
    }

    /// prefix + key in a stack buffer (the L1 hit path allocates nothing but the result).
    @inline(__always)
    private func withFullKey<R: ~Copyable>(_ key: UnsafeRawBufferPointer,
                                           _ body: (UnsafeRawBufferPointer) throws(CacheKitError) -> R) throws(CacheKitError) -> R {
        let prefixCount = prefix.count
        var result: R?
        var failure: CacheKitError?
        withUnsafeTemporaryAllocation(byteCount: prefixCount &+ key.count, alignment: 1) { buffer in
            guard let base = buffer.baseAddress else { return }
            if prefixCount > 0, let p = prefixBytes.baseAddress { base.copyMemory(from: p, byteCount: prefixCount) }
            if let k = key.baseAddress { (base + prefixCount).copyMemory(from: k, byteCount: key.count) }
            do throws(CacheKitError) {
                result = try body(UnsafeRawBufferPointer(start: base, count: prefixCount &+ key.count))
            } catch { failure = error }
        }
        if let failure { throw failure }
        switch consume result {
        case .some(let value): return value
        case .none: throw CacheKitError(.internal, "no result")
        }
    }

    private func ttlSeconds(_ requested: Int?) -> Int { requested.map { max($0, 0) } ?? defaultTTLSeconds }

    /// An entry's L1 lifetime: its TTL (0: none), capped at the L1 lifetime when one is set.
    @inline(__always)
    private func l1Lifetime(_ ttlNanoseconds: Int64) -> Int64 {
        guard l1LifetimeNanoseconds > 0 else { return ttlNanoseconds }
        return ttlNanoseconds > 0 ? min(ttlNanoseconds, l1LifetimeNanoseconds) : l1LifetimeNanoseconds
    }

    private static func nanoseconds(seconds: Int) -> Int64 {
        let (value, overflow) = Int64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? Int64.max : value
    }

    // MARK: Reads

    /// The value under `key`, or nil on a miss. Undecodable entries are dropped and read as misses.
    public func get(_ key: UnsafeRawBufferPointer) throws(CacheKitError) -> OwnedBytes? {
        try validateKey(key)
        if l1.isEnabled, let value = try withFullKey(key, { full throws(CacheKitError) in try getFromL1(full) }) {
            return value
        }
        if let l2 {
            let full = try fullKey(key)
            do throws(CacheKitError) {
                let fetched: StoredValue?
                if l1.isEnabled {
                    fetched = try l2.getWithTTL(full)
                } else {
                    fetched = try l2.get(full)
                }
                if let fetched, let value = try decodeFromL2(full, fetched) {
                    CacheStats.bump(stats.l2Hits)
                    return value
                }
            } catch where error.status == .outOfMemory {
                throw error
            } catch {
                CacheStats.bump(stats.errors)
            }
        }
        CacheStats.bump(stats.misses)
        return nil
    }

    /// An L1-only lookup: never touches Redis, so it never waits on the network (async hosts call
    /// it on their event loop before handing a miss to a worker). A hit counts as an L1 hit; a
    /// miss is not counted, since the caller goes on to `get`.
    public func getLocal(_ key: UnsafeRawBufferPointer) throws(CacheKitError) -> OwnedBytes? {
        try validateKey(key)
        guard l1.isEnabled else { return nil }
        return try withFullKey(key, { full throws(CacheKitError) in try getFromL1(full) })
    }

    /// An L1 hit, decoded (L1 counts its own hits; a hit that does not decode is uncounted here).
    private func getFromL1(_ full: UnsafeRawBufferPointer) throws(CacheKitError) -> OwnedBytes? {
        guard l1.isEnabled, let hit = try l1.get(full) else { return nil }
        if hit.isDecoded || storesValueVerbatim { return hit.takeBytes() }
        do throws(CacheKitError) {
            return try codec.decode(hit.bytes.bytes, redisKey: Array(full))
        } catch where error.status == .outOfMemory {
            throw error
        } catch {
            CacheStats.bump(stats.decodeErrors)
            CacheStats.bump(stats.l1DecodeFailures)
            _ = l1.remove(full)
            return nil
        }
    }

    /// Decodes an entry read from Redis and keeps it in L1 no longer than Redis will. An entry
    /// that does not decode is deleted from Redis (as cachekit-py does) and reads as a miss.
    private func decodeFromL2(_ full: [UInt8], _ fetched: StoredValue) throws(CacheKitError) -> OwnedBytes? {
        let value: OwnedBytes
        do throws(CacheKitError) {
            value = try fetched.withBytes { stored throws(CacheKitError) in
                try codec.decode(stored, redisKey: full)
            }
        } catch where error.status == .outOfMemory {
            throw error
        } catch {
            CacheStats.bump(stats.decodeErrors)
            _ = try? l2?.delete([full])
            return nil
        }
        // PTTL: >= 0 ms left, -1 no expiry; anything else (-2: expired since the GET, or not
        // asked) leaves L1 alone rather than guess a lifetime.
        if l1.isEnabled, let pttl = fetched.ttlMilliseconds, pttl >= -1 {
            let scaled = max(pttl, 1).multipliedReportingOverflow(by: 1_000_000)
            let ttl = l1Lifetime(pttl == -1 ? 0 : (scaled.overflow ? Int64.max : scaled.partialValue))
            let view: UnsafeRawBufferPointer? = keepsDecodedView ? value.bytes : nil  // value outlives the closure
            full.withUnsafeBytes { key in
                fetched.withBytes { stored in
                    _ = l1.set(key, stored, decoded: view, ttlNanoseconds: ttl, countsAsAccess: false)
                }
            }
        }
        return value
    }

    /// Values for several keys: L1 first, then one Redis round trip (MGET) for the rest. Each
    /// hit is handed to `found` with the key's index; keys never handed over are misses.
    /// Returns the number of hits.
    @discardableResult
    public func getMany(_ keys: [UnsafeRawBufferPointer],
                        found: (Int, consuming OwnedBytes) -> Void) throws(CacheKitError) -> Int {
        var fulls: [[UInt8]] = []
        fulls.reserveCapacity(keys.count)
        for key in keys { fulls.append(try fullKey(key)) }
        var missing: [Int] = []
        var hits = 0
        for (i, full) in fulls.enumerated() {
            if let value = try withBytes(full, { key throws(CacheKitError) in try getFromL1(key) }) {
                hits += 1
                found(i, value)
            } else {
                missing.append(i)
            }
        }
        if let l2, !missing.isEmpty {
            do throws(CacheKitError) {
                let fetched = try l2.getMany(missing.map { fulls[$0] }, withTTL: l1.isEnabled)
                for (j, i) in missing.enumerated() {
                    guard j < fetched.count, let stored = fetched[j],
                          let value = try decodeFromL2(fulls[i], stored) else { continue }
                    hits += 1
                    CacheStats.bump(stats.l2Hits)
                    found(i, value)
                }
            } catch where error.status == .outOfMemory {
                throw error
            } catch {
                CacheStats.bump(stats.errors)
            }
        }
        CacheStats.bump(stats.misses, by: keys.count - hits)
        return hits
    }

    /// Whether `key` holds an entry (L1, else Redis; a Redis failure answers from L1 alone).
    public func exists(_ key: UnsafeRawBufferPointer) throws(CacheKitError) -> Bool {
        let full = try fullKey(key)
        if full.withUnsafeBytes({ l1.contains($0) }) { return true }
        guard let l2 else { return false }
        do throws(CacheKitError) {
            return try l2.exists(full)
        } catch {
            CacheStats.bump(stats.errors)
            return false
        }
    }

    // MARK: Writes

    /// Stores `value` under `key` for `ttlSeconds` (nil: the default; 0: no expiry).
    /// A value whose entry exceeds `maxValueSize` is refused with `.valueTooLarge`.
    public func set(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, ttlSeconds requested: Int?) throws(CacheKitError) {
        let full = try fullKey(key)
        let stored = try codec.encode(value, redisKey: full)
        try store(full, stored.bytes, value: value, ttlSeconds: ttlSeconds(requested))
    }

    /// As `set`, and records `key` in the registry's tracking set in the same round trip
    /// (SET, SADD, EXPIRE pipelined): cachekit-py's write plus track_key, one round trip less.
    public func setTracked(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, ttlSeconds requested: Int?,
                           registryId: String) throws(CacheKitError) {
        let full = try fullKey(key)
        guard validUTF8(key) else { throw CacheKitError(.invalidKey, "the cache key is not UTF-8") }
        let set = try registrySet(registryId)
        let stored = try codec.encode(value, redisKey: full)
        try store(full, stored.bytes, value: value, ttlSeconds: ttlSeconds(requested), tracking: (key, set))
        recordTracked(registryId, key)
    }

    private func store(_ full: [UInt8], _ stored: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, ttlSeconds: Int,
                       fillsMiss: Bool = false,
                       tracking: (member: UnsafeRawBufferPointer, set: [UInt8])? = nil) throws(CacheKitError) {
        guard stored.count <= maxValueSize else {
            full.withUnsafeBytes { _ = l1.remove($0) }
            throw CacheKitError(.valueTooLarge, "the entry is \(stored.count) bytes; the maximum value size is \(maxValueSize)")
        }
        if let l2 {
            do throws(CacheKitError) {
                if let tracking {
                    try l2.set(full, stored, ttlSeconds: ttlSeconds, tracking: tracking.member, in: tracking.set,
                               setTTLSeconds: Self.registryTTLSeconds)
                } else {
                    try l2.set(full, stored, ttlSeconds: ttlSeconds)
                }
            } catch {
                CacheStats.bump(stats.errors)
            }
        }
        full.withUnsafeBytes { key in
            _ = l1.set(key, stored, decoded: keepsDecodedView ? value : nil, ttlNanoseconds: l1Lifetime(Self.nanoseconds(seconds: ttlSeconds)),
                       countsAsAccess: !fillsMiss)
        }
        CacheStats.bump(stats.sets)
    }

    /// Removes `key` from both tiers. L1 is always cleared; a Redis failure is reported.
    public func delete(_ key: UnsafeRawBufferPointer) throws(CacheKitError) {
        let full = try fullKey(key)
        full.withUnsafeBytes { _ = l1.remove($0) }
        CacheStats.bump(stats.deletes)
        guard let l2 else { return }
        do throws(CacheKitError) {
            _ = try l2.delete([full])
        } catch {
            CacheStats.bump(stats.errors)
            throw error
        }
    }

    /// Removes every entry of a namespace from both tiers: keys starting with `ns:{namespace}:`
    /// (cachekit-py's auto-mode keys) or, in interop mode, `{namespace}:`. Redis is swept with
    /// SCAN + UNLINK. Returns how many Redis keys were removed.
    public func invalidateNamespace(_ namespace: String) throws(CacheKitError) -> Int {
        guard !namespace.isEmpty, namespace.utf8.count <= 1024 else {
            throw CacheKitError(.invalidArgument, "the namespace must be 1..1024 bytes")
        }
        var namespacePrefix = prefix
        namespacePrefix.append(contentsOf: mode == .interop ? Array("\(namespace):".utf8) : Array("ns:\(namespace):".utf8))
        namespacePrefix.withUnsafeBytes { _ = l1.removeAll(withPrefix: $0) }
        guard let l2 else { return 0 }
        do throws(CacheKitError) {
            return try l2.deleteAll(withPrefix: namespacePrefix)
        } catch {
            CacheStats.bump(stats.errors)
            throw error
        }
    }

    // MARK: Key registry (cachekit-py 0.24.1's per-function tracking set)

    /// How long a tracking set lives after its last write, as cachekit-py's.
    public static let registryTTLSeconds = 604_800
    public static let maxRegistryIdLength = 4096
    /// cachekit-py's invalidation channel and its per-field cap: a longer field is never sent.
    public static let invalidationChannel: [UInt8] = Array("cachekit:py:invalidate:v1".utf8)
    public static let maxEventFieldBytes = 1024

    /// The tracking set's Redis name: key_prefix + registry id. Only "ck:reg:..." ids are taken,
    /// so these calls cannot write into or drain an arbitrary key.
    private func registrySet(_ registryId: String) throws(CacheKitError) -> [UInt8] {
        let bytes = Array(registryId.utf8)
        guard bytes.count > "ck:reg:".utf8.count, bytes.count <= Self.maxRegistryIdLength,
              bytes.starts(with: "ck:reg:".utf8) else {
            throw CacheKitError(.invalidArgument,
                                "the registry id must start with \"ck:reg:\" and be at most \(Self.maxRegistryIdLength) bytes")
        }
        return prefix + bytes
    }

    /// Records `key` (raw, without the prefix) in the registry's tracking set: SADD + EXPIRE,
    /// one round trip. Returns false without Redis. A Redis failure is counted and thrown.
    @discardableResult
    public func trackKey(registryId: String, key: UnsafeRawBufferPointer) throws(CacheKitError) -> Bool {
        try validateKey(key)
        guard validUTF8(key) else { throw CacheKitError(.invalidKey, "the cache key is not UTF-8") }
        let set = try registrySet(registryId)
        guard let l2 else { return false }
        recordTracked(registryId, key)  // in L1 whether or not Redis records it
        do throws(CacheKitError) {
            try l2.track(set: set, member: key, ttlSeconds: Self.registryTTLSeconds)
        } catch {
            CacheStats.bump(stats.errors)
            throw error
        }
        return true
    }

    /// Deletes every key the registry tracks (any process, either SDK) and then `localKeys` the
    /// drain did not reach, from Redis and from L1. Returns how many distinct keys were reached:
    /// the popped members plus `localKeys`, as cachekit-py's drain_tracked. On a Redis failure
    /// the keys reached so far and all of `localKeys` are still dropped from L1.
    public func drainRegistry(_ registryId: String, localKeys: [UnsafeRawBufferPointer]) throws(CacheKitError) -> Int {
        for key in localKeys { try validateKey(key) }
        let set = try registrySet(registryId)
        if listener != nil {
            let id = Array(registryId.utf8)
            registryIndex.state.withLock { $0.forgetAll(id) }
        }
        var reached = Set<[UInt8]>()
        defer {
            for key in localKeys { _ = try? withFullKey(key) { full throws(CacheKitError) in l1.remove(full) } }
        }
        guard let l2 else {
            for key in localKeys { reached.insert(Array(key)) }
            CacheStats.bump(stats.deletes, by: reached.count)
            return reached.count
        }
        do throws(CacheKitError) {
            _ = try l2.drain(set: set, keyPrefix: prefix) { member in
                reached.insert(member)
                (prefix + member).withUnsafeBytes { _ = l1.remove($0) }
            }
            var stragglers: [[UInt8]] = []
            for key in localKeys {
                let raw = Array(key)
                if reached.insert(raw).inserted { stragglers.append(prefix + raw) }
            }
            _ = try l2.unlink(stragglers)
        } catch {
            CacheStats.bump(stats.errors)
            throw error
        }
        CacheStats.bump(stats.deletes, by: reached.count)
        return reached.count
    }

    /// Announces an invalidation on cachekit-py's channel, encoded as cachekit-py encodes it:
    /// MessagePack {"r": registry id} or {"r": registry id, "k": key}; a key over 1024 bytes
    /// widens the event to the whole function. Returns false when nothing was published: no
    /// Redis, or a registry id over 1024 bytes (no receiver accepts it).
    public func publishInvalidation(registryId: String, key: UnsafeRawBufferPointer?) throws(CacheKitError) -> Bool {
        _ = try registrySet(registryId)
        if let key {
            try validateKey(key)
            guard validUTF8(key) else { throw CacheKitError(.invalidKey, "the cache key is not UTF-8") }
        }
        guard let l2, registryId.utf8.count <= Self.maxEventFieldBytes else { return false }
        let eventKey = key.flatMap { $0.count <= Self.maxEventFieldBytes ? $0 : nil }
        var writer = MessagePackWriter(reservingCapacity: 16 + registryId.utf8.count + (eventKey?.count ?? 0))
        writer.writeMapHeader(eventKey == nil ? 1 : 2)
        writer.writeString("r")
        writer.writeString(registryId)
        if let eventKey {
            writer.writeString("k")
            writer.writeStringBytes(eventKey)
        }
        do throws(CacheKitError) {
            _ = try l2.publish(channel: Self.invalidationChannel, message: writer.bytes)
        } catch {
            CacheStats.bump(stats.errors)
            throw error
        }
        return true
    }

    // MARK: Invalidation listener

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

    private func recordTracked(_ registryId: String, _ key: UnsafeRawBufferPointer) {
        guard listener != nil else { return }
        let id = Array(registryId.utf8), raw = Array(key)
        registryIndex.state.withLock { $0.record(id, raw) }
    }

    /// The listener's counters (`running` false when this cache runs none).
    public var listenerCounters: ListenerCounters { listener?.counters ?? ListenerCounters() }

    // MARK: Get or compute

    /// The value under `key`; on a miss, `compute` produces it, it is stored for `ttlSeconds`
    /// and returned. Concurrent misses for one key in this process run `compute` once; the
    /// others wait for its value. With Redis down the value is still computed and returned.
    public func getOrCompute(_ key: UnsafeRawBufferPointer, ttlSeconds requested: Int?,
                             _ compute: () throws(CacheKitError) -> [UInt8]) throws(CacheKitError) -> OwnedBytes {
        if let hit = try get(key) { return hit }
        let full = try fullKey(key)
        let ttl = ttlSeconds(requested)
        let (value, computed) = try flights.run(full) { () throws(CacheKitError) -> [UInt8] in
            // A leader that finished just before this flight started has filled L1.
            if let fresh = try withBytes(full, { key throws(CacheKitError) in try getFromL1(key) }) { return fresh.array }
            CacheStats.bump(stats.computes)
            let value = try compute()
            do throws(CacheKitError) {
                try withBytes(value) { bytes throws(CacheKitError) in
                    let stored = try codec.encode(bytes, redisKey: full)
                    try store(full, stored.bytes, value: bytes, ttlSeconds: ttl, fillsMiss: true)
                }
            } catch where error.status == .valueTooLarge {
                // Too large to cache, but the caller still gets its value.
            }
            return value
        }
        if !computed { CacheStats.bump(stats.coalesced) }
        return try withBytes(value) { bytes throws(CacheKitError) in try OwnedBytes(copying: bytes) }
    }

    // MARK: Observability

    public func statsSnapshot() -> CacheStats.Snapshot { stats.snapshot(l1: l1) }

    public struct Health: Sendable {
        public var l2Configured: Bool
        /// `.ok` when Redis answered PING, else the failure.
        public var l2Status: Status
        public var l2PingNanoseconds: Int
        public var l1Entries: Int
        public var l1Bytes: Int
        /// A description of the backend without credentials, or the failure.
        public var detail: String
    }

    /// Pings Redis (within the command timeout) and reports both tiers.
    public func health() -> Health {
        let usage = l1.usage
        var report = Health(l2Configured: l2 != nil, l2Status: .ok, l2PingNanoseconds: 0,
                            l1Entries: usage.entries, l1Bytes: usage.bytes, detail: "L1 only")
        if let l2 {
            do throws(CacheKitError) {
                report.l2PingNanoseconds = try l2.ping()
                report.detail = "Redis \(l2.endpoint.redactedDescription) answered PING"
            } catch {
                report.l2Status = error.status
                report.detail = error.message
            }
        }
        return report
    }
}

