/// The one place that decides what a second-tier failure means to a caller. The cache fails
/// open: a Redis that is down, paused, restarting or slow never fails a read or a write; the
/// failure is counted and L1 keeps serving. Only calls whose purpose is Redis itself (delete,
/// namespace invalidation, the key registry, health) report the backend status. Each failure is
/// also counted under its `operation` (cache_operations_total's success="False") and logged.
enum FailOpen {
    /// Reads (get, get_many): a failure is counted and reads as a miss (nil). Running out of
    /// memory is no Redis failure and is thrown, as is a decryption failure (only a fail-closed
    /// cache lets one out of its decode: Cache+FailClosed.swift).
    @inline(__always)
    static func read<R: ~Copyable>(_ stats: CacheStats, _ operation: OperationMetrics.Operation? = nil,
                                   _ body: () throws(CachekitError) -> R?) throws(CachekitError) -> R? {
        do throws(CachekitError) {
            return try body()
        } catch where error.status == .outOfMemory || error.status == .authenticationFailed
            || error.status == .keyFingerprintMismatch {
            throw error
        } catch {
            CacheStats.bump(stats.errors)
            if let operation { stats.metrics.recordFailure(operation, error) }
            return nil
        }
    }

    /// Writes and existence checks: any failure is counted and `fallback` answers instead (a
    /// write still lands in L1).
    @inline(__always)
    static func absorb<R>(_ stats: CacheStats, _ operation: OperationMetrics.Operation? = nil, fallback: R,
                          _ body: () throws(CachekitError) -> R) -> R {
        do throws(CachekitError) {
            return try body()
        } catch {
            CacheStats.bump(stats.errors)
            if let operation { stats.metrics.recordFailure(operation, error) }
            return fallback
        }
    }

    /// Calls about Redis itself: the failure is counted and reported to the caller.
    @inline(__always)
    static func report<R>(_ stats: CacheStats, _ operation: OperationMetrics.Operation? = nil,
                          _ body: () throws(CachekitError) -> R) throws(CachekitError) -> R {
        do throws(CachekitError) {
            return try body()
        } catch {
            CacheStats.bump(stats.errors)
            if let operation { stats.metrics.recordFailure(operation, error) }
            throw error
        }
    }
}
