import Glibc

/// Runs at most one computation per key at a time in this process: the first caller for a key
/// computes, callers arriving meanwhile wait for its result instead of computing again (the
/// stampede protection of cachekit's `@cache`, without Redis locks), for a bounded time.
/// Thread-safe.
final class SingleFlight<Value: Sendable>: Sendable {
    private let flights = Locked<[[UInt8]: Flight]>([:])

    /// One computation in progress; waiters block on its monitor until it finishes.
    private final class Flight: @unchecked Sendable {  // `leader` is written once, at init
        private let outcome = Monitor<Result<Value, CachekitError>?>(nil)
        let leader = pthread_self()

        func finish(_ result: Result<Value, CachekitError>) {
            outcome.withLock { $0 = result }
            outcome.broadcast()
        }

        /// The leader's outcome, or nil when it has not finished within `nanoseconds`.
        func wait(nanoseconds: Int64) -> Result<Value, CachekitError>? {
            let end = MonotonicClock.preciseNanoseconds().addingReportingOverflow(nanoseconds)
            let deadline = Deadline(nanoseconds: end.overflow ? Int64.max : end.partialValue)
            return outcome.wait(until: deadline, { (finished: inout Result<Value, CachekitError>?) -> Result<Value, CachekitError>?? in
                finished.map { .some($0) }
            }, timedOut: { (finished: inout Result<Value, CachekitError>?) -> Result<Value, CachekitError>? in finished })
        }
    }

    /// Returns the value and whether this caller computed it. A waiter whose leader has not
    /// finished within `waitNanoseconds` stops waiting and runs `compute` itself (as cachekit-py
    /// computes without the lock after its lock wait): a callback that never returns holds up
    /// its own caller only. `timedOut` counts those waits.
    func run(_ key: [UInt8], waitNanoseconds: Int64, timedOut: () -> Void,
             _ compute: () throws(CachekitError) -> Value) throws(CachekitError) -> (value: Value, computed: Bool) {
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
        let outcome: Result<Value, CachekitError>
        do throws(CachekitError) { outcome = .success(try compute()) } catch { outcome = .failure(error) }
        _ = flights.withLock { $0.removeValue(forKey: key) }
        flight.finish(outcome)
        return (try outcome.get(), true)
    }
}
