/// The cache's bulk writes and its TTL read: what users of any cache expect beside get_many.
/// Each key is handled as the single call handles it (same checks, same L1 update, same
/// fail-open rule); the Redis side of a batch is one round trip (`L2Store.setMany`,
/// `deleteEach`).
extension Cache {
    /// Per-key outcomes of a bulk call, and the first failure with its message (what the C
    /// call returns and reports through cachekit_last_error_message).
    public struct BulkOutcome {
        public var statuses: [Status]
        public var firstFailure: CachekitError?

        init(count: Int, initial: Status) {
            statuses = Array(repeating: initial, count: count)
        }

        mutating func fail(_ index: Int, _ error: CachekitError) {
            statuses[index] = error.status
            if firstFailure == nil { firstFailure = error }
        }
    }

    /// An encoded entry waiting for its batch's round trip (OwnedBytes cannot live in an array).
    private final class PendingEntry {
        let index: Int
        let full: [UInt8]
        let stored: OwnedBytes

        init(index: Int, full: [UInt8], stored: consuming OwnedBytes) {
            self.index = index
            self.full = full
            self.stored = stored
        }
    }

    func valueTooLarge(_ count: Int) -> CachekitError {
        CachekitError(.valueTooLarge, "the entry is \(count) bytes; the maximum value size is \(maxValueSize)")
    }

    /// Stores `values[i]` under `keys[i]` for `ttlSeconds` (nil: the default; 0: no expiry), as
    /// `set` does each: a key or value that fails its checks gets its status and is skipped (an
    /// entry too large also leaves L1), the others go to Redis in one pipelined round trip and
    /// then to L1. A Redis failure is absorbed (counted; L1 still written), as `set` absorbs it.
    public func setMany(_ keys: [UnsafeRawBufferPointer], _ values: [UnsafeRawBufferPointer],
                        ttlSeconds requested: Int?) throws(CachekitError) -> BulkOutcome {
        guard keys.count == values.count else {
            throw CachekitError(.invalidArgument, "set_many was given \(keys.count) keys and \(values.count) values")
        }
        let ttl = ttlSeconds(requested)
        var outcome = BulkOutcome(count: keys.count, initial: .ok)
        var pending: [PendingEntry] = []
        pending.reserveCapacity(keys.count)
        for index in keys.indices {
            do throws(CachekitError) {
                let full = try fullKey(keys[index])
                let stored = try codec.encode(values[index], redisKey: full)
                guard stored.count <= maxValueSize else {
                    full.withUnsafeBytes { _ = l1.remove($0) }
                    throw valueTooLarge(stored.count)
                }
                pending.append(PendingEntry(index: index, full: full, stored: stored))
            } catch where error.status == .outOfMemory {
                throw error
            } catch {
                outcome.fail(index, error)
            }
        }
        if let l2, !pending.isEmpty {
            FailOpen.absorb(stats, fallback: ()) { () throws(CachekitError) in
                try l2.setMany(pending.map { ($0.full, $0.stored.bytes) }, ttlSeconds: ttl)
            }
        }
        let lifetime = l1Lifetime(Self.nanoseconds(seconds: ttl))
        for entry in pending {
            entry.full.withUnsafeBytes { key in
                keepInL1(entry.full, key, entry.stored.bytes, inner: values[entry.index], ttlNanoseconds: lifetime)
            }
        }
        CacheStats.bump(stats.sets, by: pending.count)
        return outcome
    }

    /// Removes each key from both tiers, as `delete` does: L1 always, then Redis in one
    /// pipelined round trip. statuses[i] is `.ok` when the key existed (in Redis, or in L1
    /// without Redis), `.miss` when not, its own status when it is not a valid key, and the
    /// backend status for every valid key when Redis could not be reached (reported, as
    /// `delete` reports it).
    public func deleteMany(_ keys: [UnsafeRawBufferPointer]) -> BulkOutcome {
        var outcome = BulkOutcome(count: keys.count, initial: .miss)
        var fulls: [[UInt8]] = []
        var indices: [Int] = []
        for (index, key) in keys.enumerated() {
            do throws(CachekitError) {
                let full = try fullKey(key)
                if full.withUnsafeBytes({ l1.remove($0) }) { outcome.statuses[index] = .ok }
                fulls.append(full)
                indices.append(index)
            } catch {
                outcome.fail(index, error)
            }
        }
        CacheStats.bump(stats.deletes, by: fulls.count)
        guard let l2, !fulls.isEmpty else { return outcome }
        do throws(CachekitError) {
            let existed = try FailOpen.report(stats) { () throws(CachekitError) -> [Bool] in try l2.deleteEach(fulls) }
            for (position, index) in indices.enumerated() {
                outcome.statuses[index] = position < existed.count && existed[position] ? .ok : .miss
            }
        } catch {
            for index in indices { outcome.fail(index, error) }
        }
        return outcome
    }

    /// Milliseconds (>= 0) to seconds, half up, as Redis's TTL command rounds them.
    private static func roundedSeconds(_ milliseconds: Int64) -> Int64 {
        milliseconds / 1000 &+ (milliseconds % 1000 >= 500 ? 1 : 0)
    }

    /// The remaining lifetime of `key` in whole seconds, rounded as Redis's TTL rounds (-1: no
    /// expiry), or nil when absent: Redis's answer when there is Redis, else L1's, and L1's
    /// when Redis fails (as `exists` answers).
    public func remainingTTLSeconds(_ key: UnsafeRawBufferPointer) throws(CachekitError) -> Int64? {
        let full = try fullKey(key)
        let local = full.withUnsafeBytes { l1.remainingNanoseconds($0) }.map { left -> Int64 in
            left == Int64.max ? -1 : Self.roundedSeconds(left / 1_000_000)
        }
        guard let l2 else { return local }
        let milliseconds = FailOpen.absorb(stats, fallback: nil) { () throws(CachekitError) -> Int64? in
            try l2.remainingTTL(full)
        }
        guard let milliseconds else { return local }
        switch milliseconds {
        case -1: return -1
        case ..<0: return nil
        default: return Self.roundedSeconds(milliseconds)
        }
    }
}
