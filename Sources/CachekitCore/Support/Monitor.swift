import Glibc

/// A value behind a pthread mutex with a condition variable, for callers that wait for the value
/// to change (a free pooled connection, a backpressure permit, a single flight's result).
///
/// Why not `Locked`: it has no condition variable. Why pthreads, as `Locked`: ThreadSanitizer sees
/// them. The condition waits on CLOCK_MONOTONIC, the clock `Deadline` is on, so a wall-clock step
/// neither shortens nor stretches a wait.
public final class Monitor<Value>: @unchecked Sendable {  // the value is only touched under the mutex
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let storage = UnsafeMutablePointer<Value>.allocate(capacity: 1)

    public init(_ value: Value) {
        storage.initialize(to: value)
        Self.initialize(mutex, condition)
    }

    deinit {
        storage.deinitialize(count: 1)
        storage.deallocate()
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    private static func initialize(_ mutex: UnsafeMutablePointer<pthread_mutex_t>,
                                   _ condition: UnsafeMutablePointer<pthread_cond_t>) {
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    public func withLock<Result, E: Error>(_ body: (inout Value) throws(E) -> Result) throws(E) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&storage.pointee)
    }

    /// Under the lock, calls `attempt` until it returns a result, waiting on the condition between
    /// calls; once `deadline` has passed (checked after a last attempt, so a wake-up that races the
    /// timeout is not lost) returns `timedOut`'s result. Each call gets its own `inout` access: none
    /// is held while the mutex is released inside the wait.
    public func wait<Result, E: Error>(until deadline: Deadline,
                                _ attempt: (inout Value) throws(E) -> Result?,
                                timedOut: (inout Value) throws(E) -> Result) throws(E) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        var wake = timespec(tv_sec: Int(deadline.nanoseconds / 1_000_000_000),
                            tv_nsec: Int(deadline.nanoseconds % 1_000_000_000))
        while true {
            if let result = try attempt(&storage.pointee) { return result }
            if deadline.hasPassed { return try timedOut(&storage.pointee) }
            _ = pthread_cond_timedwait(condition, mutex, &wake)
        }
    }

    /// Wakes one waiter: call after a change that lets one more caller through.
    public func signal() { pthread_cond_signal(condition) }

    /// Wakes every waiter: call after a change all of them wait for (a result they share).
    public func broadcast() { pthread_cond_broadcast(condition) }

    /// In a child after fork(): the mutex may be held by a parent thread that does not exist
    /// here, and the condition may count the parent's waiters, so both are made anew. When the
    /// mutex was free at the fork, the value is consistent and `salvage` reads it before it is
    /// replaced by `fresh`; otherwise it may be half-updated, so it is neither read nor
    /// deinitialized (leaked), only overwritten. The caller guarantees no other thread of this
    /// process uses the monitor meanwhile.
    public func reinitializeAfterFork(fresh: Value, salvage: (inout Value) -> Void) {
        if pthread_mutex_trylock(mutex) == 0 {
            salvage(&storage.pointee)
            storage.pointee = fresh
            pthread_mutex_unlock(mutex)
        } else {
            storage.initialize(to: fresh)
        }
        Self.initialize(mutex, condition)
    }
}
