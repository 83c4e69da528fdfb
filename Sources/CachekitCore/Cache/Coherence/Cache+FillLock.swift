/// The miss path of get_or_compute across processes: cachekit-py's fill lock (FillLock.swift).
extension Cache {
    /// What a fill produced: the value, and whether it is an expired copy served under
    /// stale-if-error because the compute failed.
    struct FilledValue: Sendable {
        var bytes: [UInt8]
        var stale = false
    }

    /// Fills a miss of `full`: when the second tier has the lock commands and the lock is on, the
    /// holder computes and stores while the other processes wait for its value (reading Redis at
    /// every poll); without the lock, or when Redis fails, it computes at once (the lock is best
    /// effort, as cachekit-py's). A waiter whose wait ends without the value reads once more
    /// and then computes without the lock, as cachekit-py does after `blocking_timeout`.
    func fill(_ full: [UInt8], ttlSeconds: Int,
              _ compute: () throws(CachekitError) -> [UInt8]) throws(CachekitError) -> FilledValue {
        let settings = coherence.fillLock
        guard settings.enabled, let store = l2 as? any CoherentL2Store, let token = FillLock.newToken() else {
            return try computeAndStore(full, ttlSeconds: ttlSeconds, compute)
        }
        let lockKey = FillLock.lockKey(full)
        func attempt() -> Bool? {
            do throws(CachekitError) {
                return try store.acquireLock(lockKey, token: token, milliseconds: settings.holdMilliseconds)
            } catch {
                CacheStats.bump(stats.errors)
                return nil
            }
        }
        guard var held = attempt() else { return try computeAndStore(full, ttlSeconds: ttlSeconds, compute) }
        if !held {
            CacheStats.bump(stats.fillLockWaits)
            let poll = Int64(settings.pollMilliseconds) &* 1_000_000
            let deadline = MonotonicClock.nowNanoseconds() &+ Int64(settings.waitMilliseconds) &* 1_000_000
            // redis-py's give-up rule: stop once the next attempt would land past the deadline.
            while !held, MonotonicClock.nowNanoseconds() &+ poll <= deadline {
                FillLock.sleep(milliseconds: settings.pollMilliseconds)
                if let value = try readThrough(full) {
                    CacheStats.bump(stats.fillLockReads)
                    return FilledValue(bytes: value.array)
                }
                guard let won = attempt() else { break }
                held = won
            }
        }
        guard held else {
            CacheStats.bump(stats.fillLockTimeouts)
            if let value = try readThrough(full) { return FilledValue(bytes: value.array) }
            return try computeAndStore(full, ttlSeconds: ttlSeconds, compute)
        }
        defer {
            FailOpen.absorb(stats, fallback: ()) { () throws(CachekitError) in
                if try !store.releaseLock(lockKey, token: token) { CacheStats.bump(stats.fillLockExpired) }
            }
        }
        // A holder that stored and released between this caller's read and its grant.
        if let value = try readThrough(full) { return FilledValue(bytes: value.array) }
        return try computeAndStore(full, ttlSeconds: ttlSeconds, compute)
    }

    /// One read of the second tier (filling L1), failing open.
    func readThrough(_ full: [UInt8]) throws(CachekitError) -> OwnedBytes? {
        guard let l2 else { return nil }
        return try FailOpen.read(stats) { () throws(CachekitError) -> OwnedBytes? in
            let token = l1Coherence?.readToken(full)  // l1_tracking: a change reported meanwhile keeps it out of L1
            guard let fetched = try l2.getWithTTL(full) else { return nil }
            return try decodeFromL2(full, fetched, token: token)
        }
    }

    /// Runs the compute and stores its value in both tiers; a value too large to cache is still
    /// returned. A failing compute falls back to a stale copy when stale-if-error allows it.
    func computeAndStore(_ full: [UInt8], ttlSeconds: Int,
                         _ compute: () throws(CachekitError) -> [UInt8]) throws(CachekitError) -> FilledValue {
        CacheStats.bump(stats.computes)
        let value: [UInt8]
        do throws(CachekitError) {
            value = try compute()
        } catch {
            if let stale = try staleValue(full) { return FilledValue(bytes: stale, stale: true) }
            throw error
        }
        do throws(CachekitError) {
            try withBytes(value) { bytes throws(CachekitError) in
                let stored = try codec.encode(bytes, redisKey: full)
                try store(full, stored.bytes, value: bytes, ttlSeconds: ttlSeconds, fillsMiss: true)
            }
        } catch where error.status == .valueTooLarge {
            // Too large to cache, but the caller still gets its value.
        }
        return FilledValue(bytes: value)
    }
}

// MARK: The lock for hosts that compute themselves (the Python binding's async path)

extension Cache {
    /// Whether get_or_compute takes the fill lock: it is on and the second tier has the commands.
    public var fillLockApplies: Bool { coherence.fillLock.enabled && l2 is any CoherentL2Store }

    /// One attempt at the fill lock of `key` (without the prefix) for `token`, as get_or_compute
    /// makes it; true when the caller holds it, or when the lock does not apply (nothing to wait
    /// for). A Redis failure is thrown: the caller computes without the lock.
    public func tryFillLock(_ key: UnsafeRawBufferPointer, token: UnsafeRawBufferPointer) throws(CachekitError) -> Bool {
        let full = try fullKey(key)
        guard FillLock.isWellFormedToken(token) else {
            throw CachekitError(.invalidArgument, "the fill-lock token must be 1..64 lowercase hex digits")
        }
        guard coherence.fillLock.enabled, let store = l2 as? any CoherentL2Store else { return true }
        return try FailOpen.report(stats) { () throws(CachekitError) -> Bool in
            try store.acquireLock(FillLock.lockKey(full), token: Array(token), milliseconds: coherence.fillLock.holdMilliseconds)
        }
    }

    /// A fill's read of `key` from Redis (filling L1), as get_or_compute reads while it waits
    /// for the lock and after its grant: not counted as a miss, since the caller's first read
    /// already was. nil when absent or without Redis.
    public func readForFill(_ key: UnsafeRawBufferPointer) throws(CachekitError) -> OwnedBytes? {
        try readThrough(try fullKey(key))
    }

    /// Releases the fill lock of `key` if it still holds `token`; true when it did.
    public func releaseFillLock(_ key: UnsafeRawBufferPointer, token: UnsafeRawBufferPointer) throws(CachekitError) -> Bool {
        let full = try fullKey(key)
        guard FillLock.isWellFormedToken(token) else {
            throw CachekitError(.invalidArgument, "the fill-lock token must be 1..64 lowercase hex digits")
        }
        guard coherence.fillLock.enabled, let store = l2 as? any CoherentL2Store else { return false }
        let released = try FailOpen.report(stats) { () throws(CachekitError) -> Bool in
            try store.releaseLock(FillLock.lockKey(full), token: Array(token))
        }
        if !released { CacheStats.bump(stats.fillLockExpired) }
        return released
    }
}
