/// The two-tier cache: an in-process L1 in front of an optional Redis L2, both holding the same
/// stored bytes (the entry codec's output: ciphertext in secure mode). Reads try L1, then Redis
/// (filling L1 for no longer than the entry has left in Redis); writes go to Redis, then L1.
///
/// Fail-open (FailOpen.swift): a Redis failure never fails a read or a write. The second tier is
/// any `L2Store`: `RedisL2` from the config's redis_url, or one a host or test injects.
/// Thread-safe. Exported to C as `cachekit_cache`.
public final class Cache: @unchecked Sendable {  // prefixBytes is written once, in init
    public let mode: CacheMode
    public let defaultTTLSeconds: Int
    public let maxValueSize: Int
    /// The longest an entry stays in L1 (0: as long as its TTL), so a copy another process has
    /// since changed in Redis is not served for ever.
    let l1LifetimeNanoseconds: Int64
    /// How long a get_or_compute waiter waits for the caller computing its key.
    let singleFlightWaitNanoseconds: Int64
    let prefix: [UInt8]
    let l1: L1Cache
    let l2: (any L2Store)?
    let codec: any EntryCodec
    /// The built-in codec's keyring (nil for a host codec): a secure L1 hit opens its plan with it
    /// directly, not through the codec existential (its copy was a twentieth of a 100-byte hit).
    let planKeyring: Keyring?
    /// Stored bytes are the value (interop without encryption): L1 hits need no decode.
    private let storesValueVerbatim: Bool
    /// Unencrypted modes keep the decoded document next to the stored bytes in L1, so a hit is
    /// a copy; secure mode keeps only ciphertext and decrypts at every read.
    let keepsDecodedView: Bool
    /// The key prefix, in memory the hot path can copy from without reference counting.
    private let prefixBytes: UnsafeMutableRawBufferPointer
    let stats: CacheStats
    /// stats.metrics' L1 sampler, copied here so a hit reaches it without reference counting.
    private let l1Sampler: L1HitSampler
    private let flights = SingleFlight<FilledValue>()
    /// The fill lock, sliding TTL, refresh-ahead, stale-if-error and fail-closed (Coherence/).
    let coherence: CoherenceOptions
    let staleCopies: StaleCopies
    let refreshAhead: RefreshAhead
    private let configSummary: String
    /// Keys written or tracked per registry id, for whole-function invalidation events.
    private let registryIndex = SharedRegistryIndex()
    /// Set when the config enables the invalidation listener or l1_tracking (Redis and L1 both present).
    private let listener: (any InvalidationSubscription)?
    /// The listener applies cachekit-py's events (invalidation_listener).
    private let listensForEvents: Bool
    /// Set with l1_tracking: orders L1 fills against Redis's key-change reports.
    let l1Coherence: L1Coherence?

    /// A cache on L1 alone (the config's redis_url, if any, is CachekitRedis's to connect:
    /// `Cache.open(config:)` there builds the Redis tier and the listener).
    public convenience init(config: CacheConfig, codec: (any EntryCodec)? = nil) throws(CachekitError) {
        try self.init(config: config, codec: codec) { _ in nil }
    }

    /// A cache on the second tier `makeL2` builds (nil: L1 alone); it is handed the cache's
    /// stats, which RedisL2 feeds with its latencies, errors and skips. `subscribe`, when the
    /// config enables the invalidation listener or l1_tracking and there is an L1, joins the
    /// subscription that drops L1 copies other processes invalidate or change.
    public init(config: CacheConfig, codec: (any EntryCodec)? = nil,
                makeL2: (CacheStats) throws(CachekitError) -> (any L2Store)?,
                subscribe: InvalidationSubscriber? = nil) throws(CachekitError) {
        stats = CacheStats(metrics: OperationMetrics(namespace: config.metricsNamespace, logSamplingRate: config.logSamplingRate))
        l1Sampler = stats.metrics.l1Sampler
        mode = config.mode
        defaultTTLSeconds = config.effectiveDefaultTTLSeconds
        l1LifetimeNanoseconds = Self.nanoseconds(seconds: config.l1TTLSeconds)
        singleFlightWaitNanoseconds = Int64(config.singleFlightWaitMilliseconds) &* 1_000_000  // at most 3.6e15
        maxValueSize = config.maxValueSize
        coherence = config.coherence
        // Bounded as L1 is, with a floor so stale-if-error works without an L1 too.
        staleCopies = StaleCopies(graceSeconds: config.coherence.staleIfErrorSeconds,
                                  maxEntries: max(config.l1MaxEntries, 1024), maxBytes: max(config.l1MaxBytes, 16 << 20))
        refreshAhead = RefreshAhead(ratio: config.coherence.refreshAhead)
        prefix = Array(config.effectiveKeyPrefix.utf8)
        l1 = L1Cache(.init(maxBytes: config.l1MaxBytes, maxEntries: config.l1MaxEntries))
        l2 = try makeL2(stats)
        if let codec {
            self.codec = codec
        } else {
            self.codec = try Self.defaultCodec(config)
        }
        planKeyring = (self.codec as? CachekitEntryCodec)?.security?.keyring
        configSummary = config.description
        storesValueVerbatim = self.codec.storesValueVerbatim
        keepsDecodedView = !storesValueVerbatim && !config.encryptsEntries
        prefixBytes = .allocate(byteCount: max(prefix.count, 1), alignment: 1)
        prefixBytes.copyBytes(from: prefix)
        // Not on Cluster: Redis tracks per node and the subscriber is on one node, so reports of
        // keys on the others would never come (l1_ttl and the invalidation listener bound those copies).
        let tracks = config.l1Tracking && l2 != nil && !config.usesCluster
        if config.invalidationListener || tracks, let subscribe, l1.isEnabled {
            // The subscription holds L1 and the index, never the cache, so freeing the cache stops it.
            let (l1, index, prefix) = (l1, registryIndex, prefix)
            listensForEvents = config.invalidationListener
            l1Coherence = tracks ? L1Coherence(l1: l1, prefix: prefix) : nil
            let events: (@Sendable (InvalidationEvent) -> Void)? = config.invalidationListener
                ? { @Sendable event in KeyRegistry.apply(event, l1: l1, index: index, prefix: prefix) } : nil
            // A throw here runs deinit, which frees prefixBytes.
            listener = try subscribe(SubscriptionRequest(events: events, coherence: l1Coherence))
        } else {
            listensForEvents = false
            l1Coherence = nil
            listener = nil
        }
    }

    deinit {
        refreshAhead.stop()
        listener?.stop()
        prefixBytes.deallocate()
    }

    /// The entry codec for the configured mode; secure mode (and interop with a master key)
    /// builds the keyring from the configured keys.
    static func defaultCodec(_ config: CacheConfig) throws(CachekitError) -> any EntryCodec {
        if config.verbatimEntries {
            // Secure and interop mode encrypt or validate here; the caller does it for verbatim entries.
            guard config.mode == .plain || config.mode == .minimal else {
                throw CachekitError(.invalidConfig, "verbatim_entries needs mode plain or minimal (the caller encrypts)")
            }
            return VerbatimEntryCodec()
        }
        if config.mode == .secure, !config.hasMasterKey {
            throw CachekitError(.modeUnavailable, "secure mode needs master_key (CACHEKIT_MASTER_KEY)")
        }
        let security = config.encryptsEntries ? try makeSecurity(config) : nil
        return CachekitEntryCodec(mode: config.mode.entryMode, security: security,
                                  prefixCount: config.effectiveKeyPrefix.utf8.count)
    }

    private static func makeSecurity(_ config: CacheConfig) throws(CachekitError) -> EntrySecurity {
        if config.mode == .interop, !config.deploymentUUIDWasCanonical {
            // cachekit-py's rule: another SDK derives the tenant key from the string as written.
            throw CachekitError(.invalidConfig, "interop mode requires deployment_uuid in canonical lowercase-hyphenated form (8-4-4-4-12)")
        }
        let keyring = try config.withMasterKeys { master, previous throws(CachekitError) -> Keyring in
            guard let master else { throw CachekitError(.missingMasterKey, "no master_key is set") }
            let masterKey = try Hex.decodeSecret(master.bytes, what: "master key")
            var previousKeys: [SecretBytes] = []
            for (position, key) in previous.enumerated() {
                previousKeys.append(try Hex.decodeSecret(key.bytes, what: "previous master key \(position)"))
            }
            return try Keyring(masterKey: masterKey, previousKeys: previousKeys,
                               failClosed: config.coherence.encryptionFailClosed)
        }
        return EntrySecurity(keyring: keyring, tenant: config.tenant, requireTenantMatch: config.requireTenantMatch)
    }

    public var description: String { configSummary }
    public var hasL2: Bool { l2 != nil }
    /// The second tier, for the reports its own target adds (RedisL2's reliability counters).
    public var secondTier: (any L2Store)? { l2 }

    // MARK: Keys

    @inline(__always)
    private func validateKey(_ key: UnsafeRawBufferPointer) throws(CachekitError) {
        guard key.count > 0 else { throw CachekitError(.invalidKey, "the cache key is empty") }
        guard key.count <= Limits.maxCacheKeyLength else {
            throw CachekitError(.invalidKey, "the cache key is \(key.count) bytes; at most \(Limits.maxCacheKeyLength) are allowed")
        }
    }

    func fullKey(_ key: UnsafeRawBufferPointer) throws(CachekitError) -> [UInt8] {
        try validateKey(key)
        var full = prefix
        full.append(contentsOf: key)
        return full
    }

    /// prefix + key in a stack buffer (the L1 hit path allocates nothing but the result).
    @inline(__always)
    private func withFullKey<R: ~Copyable>(_ key: UnsafeRawBufferPointer,
                                           _ body: (UnsafeRawBufferPointer) throws(CachekitError) -> R) throws(CachekitError) -> R {
        let prefixCount = prefix.count
        var result: R?
        var failure: CachekitError?
        withUnsafeTemporaryAllocation(byteCount: prefixCount &+ key.count, alignment: 1) { buffer in
            guard let base = buffer.baseAddress else { return }
            if prefixCount > 0, let p = prefixBytes.baseAddress { base.copyMemory(from: p, byteCount: prefixCount) }
            if let k = key.baseAddress { (base + prefixCount).copyMemory(from: k, byteCount: key.count) }
            do throws(CachekitError) {
                result = try body(UnsafeRawBufferPointer(start: base, count: prefixCount &+ key.count))
            } catch { failure = error }
        }
        if let failure { throw failure }
        switch consume result {
        case .some(let value): return value
        case .none: throw CachekitError(.internal, "no result")
        }
    }

    func ttlSeconds(_ requested: Int?) -> Int { requested.map { max($0, 0) } ?? defaultTTLSeconds }

    /// An entry's L1 lifetime: its TTL (0: none), capped at the L1 lifetime when one is set.
    @inline(__always)
    func l1Lifetime(_ ttlNanoseconds: Int64) -> Int64 {
        guard l1LifetimeNanoseconds > 0 else { return ttlNanoseconds }
        return ttlNanoseconds > 0 ? min(ttlNanoseconds, l1LifetimeNanoseconds) : l1LifetimeNanoseconds
    }

    static func nanoseconds(seconds: Int) -> Int64 {
        let (value, overflow) = Int64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? Int64.max : value
    }

    // MARK: Reads

    /// The value under `key`, or nil on a miss. Undecodable entries are dropped and read as misses.
    public func get(_ key: UnsafeRawBufferPointer) throws(CachekitError) -> OwnedBytes? {
        try read(key, slidingTo: defaultTTLSeconds)
    }

    /// `get`, sliding an L2 hit's TTL to `slidingTo` seconds when refresh_ttl_on_get asks.
    func read(_ key: UnsafeRawBufferPointer, slidingTo ttlSeconds: Int) throws(CachekitError) -> OwnedBytes? {
        try validateKey(key)
        if l1.isEnabled {
            // 1 in 64 hits is timed (OperationMetrics): the stripe tick is the only cost of the rest.
            let sampleStart = l1Sampler.start()
            if let value = try withFullKey(key, { full throws(CachekitError) in try getFromL1(full) }) {
                if sampleStart != 0 { stats.metrics.recordL1Hit(started: sampleStart, size: value.count) }
                log(.debug, "cache.hit", [("operation", "get"), ("tier", "l1"), ("key_hash", Self.keyHash(key))])
                return value
            }
        }
        let started = MonotonicClock.preciseNanoseconds()
        if let l2 {
            let full = try fullKey(key)
            let hit = try FailOpen.read(stats, .get) { () throws(CachekitError) -> OwnedBytes? in
                let token = l1Coherence?.readToken(full)
                let fetched = l1.isEnabled || coherence.needsRemainingTTL ? try l2.getWithTTL(full) : try l2.get(full)
                guard let fetched else { return nil }
                let value = try decodeFromL2(full, fetched, token: token)
                if value != nil { afterL2Hit(full, remainingMilliseconds: fetched.ttlMilliseconds, ttlSeconds: ttlSeconds) }
                return value
            }
            if let hit {
                CacheStats.bump(stats.l2Hits)
                stats.metrics.recordL2Hit(started: started, size: hit.count)
                log(.debug, "cache.hit", [("operation", "get"), ("tier", "l2"), ("key_hash", Self.keyHash(key)),
                                          ("duration_ms", Self.milliseconds(since: started))])
                return hit
            }
        }
        CacheStats.bump(stats.misses)
        log(.debug, "cache.miss", [("operation", "get"), ("key_hash", Self.keyHash(key)),
                                   ("duration_ms", Self.milliseconds(since: started))])
        return nil
    }

    /// An L1-only lookup: never touches Redis, so it never waits on the network (async hosts call
    /// it on their event loop before handing a miss to a worker). A hit counts as an L1 hit; a
    /// miss is not counted, since the caller goes on to `get`.
    public func getLocal(_ key: UnsafeRawBufferPointer) throws(CachekitError) -> OwnedBytes? {
        try validateKey(key)
        guard l1.isEnabled else { return nil }
        return try withFullKey(key, { full throws(CachekitError) in try getFromL1(full) })
    }

    /// An L1 hit, decoded (L1 counts its own hits; a hit that does not decode is uncounted here).
    @inline(never)
    func getFromL1(_ full: UnsafeRawBufferPointer) throws(CachekitError) -> OwnedBytes? {
        guard l1.isEnabled else { return nil }
        if planKeyring != nil { return try openFromL1(full) }
        guard let hit = try l1.get(full) else { return nil }
        if hit.isDecoded || storesValueVerbatim { return hit.takeBytes() }  // the plain hit: no call
        return try decodeL1Copy(hit, full, serial: nil)
    }

    /// The value of a hit L1 copied out; nil when it does not decode (then dropped: only if it
    /// is still the entry with `serial` when that is known).
    func decodeL1Copy(_ hit: consuming L1Cache.Hit, _ full: UnsafeRawBufferPointer,
                      serial: UInt64?) throws(CachekitError) -> OwnedBytes? {
        if hit.isDecoded || storesValueVerbatim { return hit.takeBytes() }
        do throws(CachekitError) {
            if hit.planCount > 0 { return try decodeWithPlan(hit.bytes.bytes, planCount: hit.planCount) }
            return try codec.decode(hit.bytes.bytes, redisKey: Array(full))
        } catch where error.status == .outOfMemory {
            throw error
        } catch {
            let all = hit.bytes.bytes  // the stored entry, then its opening plan when it has one
            let stored = UnsafeRawBufferPointer(rebasing: all[..<(all.count &- min(hit.planCount, all.count))])
            try dropUndecodableL1Entry(full, serial: serial, error, stored: stored)
            return nil
        }
    }

    /// Counts and logs an L1 entry that did not decode and drops it, unless a write has
    /// replaced it since it was read (`serial`, when known).
    func dropUndecodableL1Entry(_ full: UnsafeRawBufferPointer, serial: UInt64?, _ error: CachekitError,
                                stored: UnsafeRawBufferPointer) throws(CachekitError) {
        CacheStats.bump(stats.decodeErrors)
        CacheStats.bump(stats.l1DecodeFailures)
        log(.warning, "entry.undecodable", [("tier", "l1"), ("status", "\(error.status.rawValue)"), ("key_hash", keyHash(full: full))])
        if let serial { _ = l1.remove(full, ifSerial: serial) } else { _ = l1.remove(full) }
        try noteDecodeFailure(error, stored, tier: .l1)
    }

    /// Decodes an entry read from Redis and keeps it in L1 no longer than Redis will. An entry
    /// that does not decode reads as a miss; a corrupt or tampered one is deleted from Redis (as
    /// cachekit-py deletes every undecodable entry), one this reader merely cannot read (another
    /// mode, a master key it lacks: the entry codec's `isForeign`) is left for its readers.
    /// `token`: taken before the read (l1_tracking), so a change reported since keeps it out of L1.
    func decodeFromL2(_ full: [UInt8], _ fetched: StoredValue, token: L1Coherence.Token? = nil) throws(CachekitError) -> OwnedBytes? {
        let value: OwnedBytes
        do throws(CachekitError) {
            value = try fetched.withBytes { stored throws(CachekitError) in
                try codec.decode(stored, redisKey: full)
            }
        } catch where error.status == .outOfMemory {
            throw error
        } catch {
            CacheStats.bump(stats.decodeErrors)
            log(.warning, "entry.undecodable", [("tier", "l2"), ("status", "\(error.status.rawValue)"), ("key_hash", keyHash(full: full))])
            try fetched.withBytes { stored throws(CachekitError) in try noteDecodeFailure(error, stored, tier: .l2) }
            if fetched.withBytes({ stored in codec.isForeign(error, stored: stored) }) {
                CacheStats.bump(stats.foreignEntries)
            } else {
                _ = try? l2?.delete([full])
            }
            return nil
        }
        // PTTL: >= 0 ms left, -1 no expiry; anything else (-2: expired since the GET, or not
        // asked) leaves L1 alone rather than guess a lifetime.
        if l1.isEnabled, let pttl = fetched.ttlMilliseconds, pttl >= -1 {
            let scaled = max(pttl, 1).multipliedReportingOverflow(by: 1_000_000)
            let ttl = l1Lifetime(pttl == -1 ? 0 : (scaled.overflow ? Int64.max : scaled.partialValue))
            let inner = value.bytes  // value outlives the closure
            let fill = {
                full.withUnsafeBytes { key in
                    fetched.withBytes { stored in
                        self.keepInL1(full, key, stored, inner: inner, ttlNanoseconds: ttl, countsAsAccess: false)
                    }
                }
            }
            if let l1Coherence, let token { l1Coherence.fill(token, fill) } else { fill() }
        }
        if staleCopies.isEnabled, let pttl = fetched.ttlMilliseconds, pttl > 0 {
            fetched.withBytes { stored in staleCopies.keep(full, stored, lifetime: Self.nanoseconds(milliseconds: pttl)) }
        }
        return value
    }

    /// Values for several keys: L1 first, then one Redis round trip (MGET) for the rest. Each
    /// hit is handed to `found` with the key's index; keys never handed over are misses.
    /// Returns the number of hits.
    @discardableResult
    public func getMany(_ keys: [UnsafeRawBufferPointer],
                        found: (Int, consuming OwnedBytes) -> Void) throws(CachekitError) -> Int {
        var fulls: [[UInt8]] = []
        fulls.reserveCapacity(keys.count)
        for key in keys { fulls.append(try fullKey(key)) }
        var missing: [Int] = []
        var hits = 0
        for (i, full) in fulls.enumerated() {
            if let value = try withBytes(full, { key throws(CachekitError) in try getFromL1(key) }) {
                hits += 1
                found(i, value)
            } else {
                missing.append(i)
            }
        }
        if let l2, !missing.isEmpty {
            _ = try FailOpen.read(stats, .get) { () throws(CachekitError) -> Void? in
                let tokens = l1Coherence.map { tracker in missing.map { tracker.readToken(fulls[$0]) } }
                let fetched = try l2.getMany(missing.map { fulls[$0] }, withTTL: l1.isEnabled)
                for (j, i) in missing.enumerated() {
                    guard j < fetched.count, let stored = fetched[j],
                          let value = try decodeFromL2(fulls[i], stored, token: tokens?[j]) else { continue }
                    hits += 1
                    CacheStats.bump(stats.l2Hits)
                    found(i, value)
                }
                return ()
            }
        }
        CacheStats.bump(stats.misses, by: keys.count - hits)
        return hits
    }

    /// Whether `key` holds an entry (L1, else Redis; a Redis failure answers from L1 alone).
    public func exists(_ key: UnsafeRawBufferPointer) throws(CachekitError) -> Bool {
        let full = try fullKey(key)
        if full.withUnsafeBytes({ l1.contains($0) }) { return true }
        guard let l2 else { return false }
        return FailOpen.absorb(stats, .exists, fallback: false) { () throws(CachekitError) -> Bool in try l2.exists(full) }
    }

    // MARK: Writes

    /// Stores `value` under `key` for `ttlSeconds` (nil: the default; 0: no expiry).
    /// A value whose entry exceeds `maxValueSize` is refused with `.valueTooLarge`.
    public func set(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, ttlSeconds requested: Int?) throws(CachekitError) {
        let full = try fullKey(key)
        let stored = try codec.encode(value, redisKey: full)
        try store(full, stored.bytes, value: value, ttlSeconds: ttlSeconds(requested))
    }

    /// As `set`, and records `key` in the registry's tracking set in the same round trip
    /// (SET, SADD, EXPIRE pipelined): cachekit-py's write plus track_key, one round trip less.
    public func setTracked(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, ttlSeconds requested: Int?,
                           registryId: String) throws(CachekitError) {
        let full = try fullKey(key)
        guard validUTF8(key) else { throw CachekitError(.invalidKey, "the cache key is not UTF-8") }
        let set = try registrySet(registryId)
        let stored = try codec.encode(value, redisKey: full)
        try store(full, stored.bytes, value: value, ttlSeconds: ttlSeconds(requested), tracking: (key, set))
        recordTracked(registryId, key)
    }

    func store(_ full: [UInt8], _ stored: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, ttlSeconds: Int,
                       fillsMiss: Bool = false,
                       tracking: (member: UnsafeRawBufferPointer, set: [UInt8])? = nil) throws(CachekitError) {
        guard stored.count <= maxValueSize else {
            full.withUnsafeBytes { _ = l1.remove($0) }
            throw valueTooLarge(stored.count)
        }
        let token = l1Coherence?.beginWrite(full)
        let started = MonotonicClock.preciseNanoseconds()
        var reachedL2 = true
        if let l2 {
            reachedL2 = FailOpen.absorb(stats, .set, fallback: false) { () throws(CachekitError) -> Bool in
                if let tracking {
                    try l2.set(full, stored, ttlSeconds: ttlSeconds, tracking: tracking.member, in: tracking.set,
                               setTTLSeconds: KeyRegistry.setTTLSeconds)
                } else {
                    try l2.set(full, stored, ttlSeconds: ttlSeconds)
                }
                return true
            }
        }
        let fill = {
            full.withUnsafeBytes { key in
                self.keepInL1(full, key, stored, inner: value, ttlNanoseconds: self.l1Lifetime(Self.nanoseconds(seconds: ttlSeconds)),
                              countsAsAccess: !fillsMiss)
            }
        }
        if let l1Coherence, let token { l1Coherence.finishWrite(token, key: full, reached: reachedL2, fill) } else { fill() }
        noteStored(full, stored, ttlSeconds: ttlSeconds)
        CacheStats.bump(stats.sets)
        // A set whose Redis write failed is counted as a failure instead (cachekit-py's record_failure).
        if reachedL2 { stats.metrics.recordSet(started: started) }
        log(.debug, "cache.set", [("operation", "set"), ("key_hash", keyHash(full: full)),
                                  ("duration_ms", Self.milliseconds(since: started)), ("stored_l2", reachedL2 ? "true" : "false")])
    }

    /// Removes `key` from both tiers. L1 is always cleared; a Redis failure is reported.
    public func delete(_ key: UnsafeRawBufferPointer) throws(CachekitError) {
        let full = try fullKey(key)
        full.withUnsafeBytes { _ = l1.remove($0) }
        staleCopies.remove(full)
        CacheStats.bump(stats.deletes)
        guard let l2 else { return }
        _ = try FailOpen.report(stats, .delete) { () throws(CachekitError) -> Int in try l2.delete([full]) }
    }

    /// Removes every entry of a namespace from both tiers: keys starting with `ns:{namespace}:`
    /// (cachekit-py's auto-mode keys) or, in interop mode, `{namespace}:`. Redis is swept with
    /// SCAN + UNLINK. Returns how many Redis keys were removed.
    public func invalidateNamespace(_ namespace: String) throws(CachekitError) -> Int {
        guard !namespace.isEmpty, namespace.utf8.count <= Limits.maxNamespaceLength else {
            throw CachekitError(.invalidArgument, "the namespace must be 1..\(Limits.maxNamespaceLength) bytes")
        }
        var namespacePrefix = prefix
        namespacePrefix.append(contentsOf: mode == .interop ? Array("\(namespace):".utf8) : Array("ns:\(namespace):".utf8))
        namespacePrefix.withUnsafeBytes { _ = l1.removeAll(withPrefix: $0) }
        staleCopies.removeAll(withPrefix: namespacePrefix)
        guard let l2 else { return 0 }
        return try FailOpen.report(stats, .invalidate) { () throws(CachekitError) -> Int in try l2.deleteAll(withPrefix: namespacePrefix) }
    }

    // MARK: Key registry (cachekit-py 0.24.1's per-function tracking set)

    private func registrySet(_ registryId: String) throws(CachekitError) -> [UInt8] {
        try KeyRegistry.setName(registryId, keyPrefix: prefix)
    }

    /// Records `key` (raw, without the prefix) in the registry's tracking set: SADD + EXPIRE,
    /// one round trip. Returns false without Redis. A Redis failure is counted and thrown.
    @discardableResult
    public func trackKey(registryId: String, key: UnsafeRawBufferPointer) throws(CachekitError) -> Bool {
        try validateKey(key)
        guard validUTF8(key) else { throw CachekitError(.invalidKey, "the cache key is not UTF-8") }
        let set = try registrySet(registryId)
        guard let l2 else { return false }
        recordTracked(registryId, key)  // in L1 whether or not Redis records it
        try FailOpen.report(stats, .registry) { () throws(CachekitError) in
            try l2.track(set: set, member: key, ttlSeconds: KeyRegistry.setTTLSeconds)
        }
        return true
    }

    /// Deletes every key the registry tracks (any process, either SDK) and then `localKeys` the
    /// drain did not reach, from Redis and from L1. Returns how many distinct keys were reached:
    /// the popped members plus `localKeys`, as cachekit-py's drain_tracked. On a Redis failure
    /// the keys reached so far and all of `localKeys` are still dropped from L1.
    public func drainRegistry(_ registryId: String, localKeys: [UnsafeRawBufferPointer]) throws(CachekitError) -> Int {
        for key in localKeys { try validateKey(key) }
        let set = try registrySet(registryId)
        if listensForEvents {
            let id = Array(registryId.utf8)
            registryIndex.state.withLock { $0.forgetAll(id) }
        }
        var reached = Set<[UInt8]>()
        defer {
            for key in localKeys { _ = try? withFullKey(key) { full throws(CachekitError) in l1.remove(full) } }
            if staleCopies.isEnabled { staleCopies.removeAll(withPrefix: prefix) }  // whole function: be safe
        }
        guard let l2 else {
            for key in localKeys { reached.insert(Array(key)) }
            CacheStats.bump(stats.deletes, by: reached.count)
            return reached.count
        }
        try FailOpen.report(stats, .registry) { () throws(CachekitError) in
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
        }
        CacheStats.bump(stats.deletes, by: reached.count)
        return reached.count
    }

    /// Announces an invalidation on cachekit-py's channel, encoded as cachekit-py encodes it
    /// (InvalidationEvent.encode). Returns false when nothing was published: no Redis, or a
    /// registry id over 1024 bytes (no receiver accepts it).
    public func publishInvalidation(registryId: String, key: UnsafeRawBufferPointer?) throws(CachekitError) -> Bool {
        _ = try registrySet(registryId)
        if let key {
            try validateKey(key)
            guard validUTF8(key) else { throw CachekitError(.invalidKey, "the cache key is not UTF-8") }
        }
        guard let l2, let message = InvalidationEvent.encode(registryId: Array(registryId.utf8), key: key) else {
            return false
        }
        _ = try FailOpen.report(stats, .publish) { () throws(CachekitError) -> Int in
            try l2.publish(channel: InvalidationEvent.channel, message: message)
        }
        return true
    }

    // MARK: Invalidation listener

    private func recordTracked(_ registryId: String, _ key: UnsafeRawBufferPointer) {
        guard listensForEvents else { return }
        let id = Array(registryId.utf8), raw = Array(key)
        registryIndex.state.withLock { $0.record(id, raw) }
    }

    /// The listener's counters (`running` false when this cache runs none).
    public var listenerCounters: ListenerCounters {
        listensForEvents ? listener?.counters ?? ListenerCounters() : ListenerCounters()
    }

    /// l1_tracking's counters (all zero without it).
    public var trackingCounters: TrackingCounters { l1Coherence?.counters ?? TrackingCounters() }

    // MARK: Get or compute

    /// The value under `key`; on a miss, `compute` produces it, it is stored for `ttlSeconds`
    /// and returned. Concurrent misses for one key in this process run `compute` once; the
    /// others wait for its value, at most `single_flight_wait_ms`, then compute it themselves.
    /// Across processes the fill lock (Coherence/Cache+FillLock.swift) does the same through
    /// Redis. With Redis down the value is still computed and returned.
    public func getOrCompute(_ key: UnsafeRawBufferPointer, ttlSeconds requested: Int?,
                             _ compute: () throws(CachekitError) -> [UInt8]) throws(CachekitError) -> OwnedBytes {
        var stale = false
        return try getOrCompute(key, ttlSeconds: requested, servedStale: &stale, compute)
    }

    /// `getOrCompute`; `servedStale` is set when the value is an expired copy that
    /// stale-if-error served because the compute failed.
    public func getOrCompute(_ key: UnsafeRawBufferPointer, ttlSeconds requested: Int?, servedStale: inout Bool,
                             _ compute: () throws(CachekitError) -> [UInt8]) throws(CachekitError) -> OwnedBytes {
        let ttl = ttlSeconds(requested)
        if let hit = try read(key, slidingTo: ttl) {
            scheduleRefreshIfDue(key, ttlSeconds: ttl)
            return hit
        }
        let full = try fullKey(key)
        let (filled, computed) = try flights.run(full, waitNanoseconds: singleFlightWaitNanoseconds,
                                                 timedOut: {
            CacheStats.bump(stats.singleFlightTimeouts)
            log(.info, "single_flight.timeout", [("operation", "get_or_compute"), ("key_hash", keyHash(full: full))])
        }) { () throws(CachekitError) -> FilledValue in
            // A leader that finished just before this flight started has filled L1.
            if let fresh = try withBytes(full, { key throws(CachekitError) in try getFromL1(key) }) {
                return FilledValue(bytes: fresh.array)
            }
            return try fill(full, ttlSeconds: ttl, compute)
        }
        if !computed { CacheStats.bump(stats.coalesced) }
        servedStale = filled.stale
        return try withBytes(filled.bytes) { bytes throws(CachekitError) in try OwnedBytes(copying: bytes) }
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
            do throws(CachekitError) {
                report.l2PingNanoseconds = try l2.ping()
                report.detail = "\(l2.redactedDescription) answered PING"
            } catch {
                report.l2Status = error.status
                report.detail = error.message
            }
            let state = l2.healthSummary
            if !state.isEmpty { report.detail = "\(state); \(report.detail)" }
        }
        return report
    }
}

