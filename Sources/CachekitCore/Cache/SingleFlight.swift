import Glibc

/// Runs at most one computation per key at a time in this process: the first caller for a key
/// computes, callers arriving meanwhile wait for its result instead of computing again (the
/// stampede protection of cachekit's `@cache`, without Redis locks), for a bounded time.
/// Thread-safe.
final class SingleFlight: Sendable {
    private let flights = Locked<[[UInt8]: Flight]>([:])

    /// One computation in progress; waiters block on a condition variable until it finishes.
    private final class Flight: @unchecked Sendable {
        private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
        private var result: Result<[UInt8], CachekitError>?
        let leader = pthread_self()

        init() {
            pthread_mutex_init(mutex, nil)
            // Deadlines on the monotonic clock: a wall-clock step must not stretch a wait.
            var attributes = pthread_condattr_t()
            pthread_condattr_init(&attributes)
            pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
            pthread_cond_init(condition, &attributes)
            pthread_condattr_destroy(&attributes)
        }

        deinit {
            pthread_cond_destroy(condition)
            pthread_mutex_destroy(mutex)
            mutex.deallocate()
            condition.deallocate()
        }

        func finish(_ outcome: Result<[UInt8], CachekitError>) {
            pthread_mutex_lock(mutex)
            result = outcome
            pthread_cond_broadcast(condition)
            pthread_mutex_unlock(mutex)
        }

        /// The leader's outcome, or nil when it has not finished within `nanoseconds`.
        func wait(nanoseconds: Int64) -> Result<[UInt8], CachekitError>? {
            var deadline = timespec()
            clock_gettime(CLOCK_MONOTONIC, &deadline)
            let total = Int64(deadline.tv_nsec).addingReportingOverflow(nanoseconds % 1_000_000_000)
            let seconds = Int64(deadline.tv_sec).addingReportingOverflow(nanoseconds / 1_000_000_000 &+ total.partialValue / 1_000_000_000)
            deadline.tv_sec = seconds.overflow ? Int.max : Int(seconds.partialValue)
            deadline.tv_nsec = Int(total.partialValue % 1_000_000_000)
            pthread_mutex_lock(mutex)
            defer { pthread_mutex_unlock(mutex) }
            while result == nil {
                if pthread_cond_timedwait(condition, mutex, &deadline) == ETIMEDOUT { break }
            }
            return result
        }
    }

    /// Returns the value and whether this caller computed it. A waiter whose leader has not
    /// finished within `waitNanoseconds` stops waiting and runs `compute` itself (as cachekit-py
    /// computes without the lock after its lock wait): a callback that never returns holds up
    /// its own caller only. `timedOut` counts those waits.
    func run(_ key: [UInt8], waitNanoseconds: Int64, timedOut: () -> Void,
             _ compute: () throws(CachekitError) -> [UInt8]) throws(CachekitError) -> (value: [UInt8], computed: Bool) {
        let (flight, isLeader) = flights.withLock { table -> (Flight, Bool) in
            if let existing = table[key] { return (existing, false) }
            let created = Flight()
            table[key] = created
            return (created, true)
        }
        guard isLeader else {
            if pthread_equal(flight.leader, pthread_self()) != 0 {
                throw CachekitError(.invalidArgument, "get_or_compute called again for the same key from inside its own callback")
            }
            if let outcome = flight.wait(nanoseconds: waitNanoseconds) { return (try outcome.get(), false) }
            timedOut()
            return (try compute(), true)
        }
        let outcome: Result<[UInt8], CachekitError>
        do throws(CachekitError) { outcome = .success(try compute()) } catch { outcome = .failure(error) }
        _ = flights.withLock { $0.removeValue(forKey: key) }
        flight.finish(outcome)
        return (try outcome.get(), true)
    }
}
