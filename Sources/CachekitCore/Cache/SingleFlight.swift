import Glibc
import Synchronization

/// Runs at most one computation per key at a time in this process: the first caller for a key
/// computes, callers arriving meanwhile wait for its result instead of computing again (the
/// stampede protection of cachekit's `@cache`, without Redis locks). Thread-safe.
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
            pthread_cond_init(condition, nil)
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

        func wait() -> Result<[UInt8], CachekitError> {
            pthread_mutex_lock(mutex)
            while result == nil { pthread_cond_wait(condition, mutex) }
            let outcome = result ?? .failure(CachekitError(.internal, "single-flight finished without a result"))
            pthread_mutex_unlock(mutex)
            return outcome
        }
    }

    /// Returns the value and whether this caller computed it.
    func run(_ key: [UInt8], _ compute: () throws(CachekitError) -> [UInt8]) throws(CachekitError) -> (value: [UInt8], computed: Bool) {
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
            return (try flight.wait().get(), false)
        }
        let outcome: Result<[UInt8], CachekitError>
        do throws(CachekitError) { outcome = .success(try compute()) } catch { outcome = .failure(error) }
        _ = flights.withLock { $0.removeValue(forKey: key) }
        flight.finish(outcome)
        return (try outcome.get(), true)
    }
}
