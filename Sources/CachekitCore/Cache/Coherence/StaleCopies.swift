/// Stale-if-error's copies: the stored bytes (ciphertext in secure mode) of entries this cache
/// wrote or read, kept until `grace` past their TTL, so a compute that fails after the entry
/// expired can return the expired value. Bounded in entries and bytes (a copy that does not fit
/// is not kept); deletes and namespace invalidations drop copies, so they never resurrect a
/// value removed on purpose. Empty, and never touched, when stale-if-error is off. Thread-safe.
final class StaleCopies: Sendable {
    private struct Copy {
        var stored: [UInt8]
        var graceUntil: Int64
    }

    private struct Table {
        var copies: [[UInt8]: Copy] = [:]
        var bytes = 0
    }

    private let table = Locked(Table())
    let graceNanoseconds: Int64
    private let maxEntries: Int
    private let maxBytes: Int

    init(graceSeconds: Int, maxEntries: Int, maxBytes: Int) {
        graceNanoseconds = Int64(graceSeconds) &* 1_000_000_000  // at most 30 days
        self.maxEntries = maxEntries
        self.maxBytes = maxBytes
    }

    var isEnabled: Bool { graceNanoseconds > 0 }

    /// Keeps `stored` as the copy of `key`, which expires `lifetime` nanoseconds from now
    /// (0: never; such an entry needs no copy).
    func keep(_ key: [UInt8], _ stored: UnsafeRawBufferPointer, lifetime: Int64,
              now: Int64 = MonotonicClock.nowNanoseconds()) {
        guard isEnabled, lifetime > 0 else { return }
        let expiry = now.addingReportingOverflow(lifetime)
        let end = expiry.overflow ? (Int64.max, true) : expiry.partialValue.addingReportingOverflow(graceNanoseconds)
        let copy = Copy(stored: Array(stored), graceUntil: end.1 ? Int64.max : end.0)
        table.withLock { table in
            if let old = table.copies.removeValue(forKey: key) { table.bytes &-= old.stored.count &+ key.count }
            let cost = copy.stored.count &+ key.count
            if table.copies.count >= maxEntries || table.bytes &+ cost > maxBytes {
                for (doomed, old) in table.copies where old.graceUntil <= now {
                    table.copies[doomed] = nil
                    table.bytes &-= old.stored.count &+ doomed.count
                }
            }
            guard table.copies.count < maxEntries, table.bytes &+ cost <= maxBytes else { return }
            table.copies[key] = copy
            table.bytes &+= cost
        }
    }

    /// The stored bytes of `key`'s copy while its grace lasts.
    func copy(_ key: [UInt8], now: Int64 = MonotonicClock.nowNanoseconds()) -> [UInt8]? {
        guard isEnabled else { return nil }
        return table.withLock { table in
            guard let copy = table.copies[key] else { return nil }
            guard now < copy.graceUntil else {
                table.copies[key] = nil
                table.bytes &-= copy.stored.count &+ key.count
                return nil
            }
            return copy.stored
        }
    }

    func remove(_ key: [UInt8]) {
        guard isEnabled else { return }
        table.withLock { table in
            if let old = table.copies.removeValue(forKey: key) { table.bytes &-= old.stored.count &+ key.count }
        }
    }

    func removeAll(withPrefix prefix: [UInt8]) {
        guard isEnabled else { return }
        table.withLock { table in
            for (key, old) in table.copies where key.starts(with: prefix) {
                table.copies[key] = nil
                table.bytes &-= old.stored.count &+ key.count
            }
        }
    }
}

extension Cache {
    /// The expired value of `full` while stale-if-error's grace lasts, decoded; nil when there is
    /// none or it no longer decodes.
    func staleValue(_ full: [UInt8]) throws(CachekitError) -> [UInt8]? {
        guard let stored = staleCopies.copy(full) else { return nil }
        do throws(CachekitError) {
            let value = try withBytes(stored) { bytes throws(CachekitError) in try codec.decode(bytes, redisKey: full) }
            CacheStats.bump(stats.staleServed)
            return value.array
        } catch where error.status == .outOfMemory {
            throw error
        } catch {
            staleCopies.remove(full)
            return nil
        }
    }
}
