import Glibc

/// A value behind a pthread mutex, with `Synchronization.Mutex`'s `withLock` shape.
///
/// Why not `Mutex`: Swift 6.3.1's `Mutex` locks with futexes inside the standard library, which
/// ThreadSanitizer does not see, so every access under it is reported as a race and TSan is
/// useless on this code. pthread mutexes are intercepted by TSan, cost the same uncontended
/// (glibc's are futex-based too), and let the test suite run under TSan.
public struct Locked<Value: ~Copyable>: ~Copyable, @unchecked Sendable {  // the value is only touched under the lock
    // On the heap, because a pthread mutex must never move and a ~Copyable struct may: the mutex
    // and the value share one block of whole cache lines, so two locks never share a line.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let storage: UnsafeMutablePointer<Value>

    private static var valueOffset: Int {
        let alignment = max(MemoryLayout<Value>.alignment, MemoryLayout<pthread_mutex_t>.alignment)
        return (MemoryLayout<pthread_mutex_t>.size &+ alignment &- 1) & ~(alignment &- 1)
    }

    public init(_ value: consuming Value) {
        let lineSize = 64
        let size = (Self.valueOffset &+ MemoryLayout<Value>.size &+ lineSize &- 1) & ~(lineSize &- 1)
        let block = UnsafeMutableRawPointer.allocate(
            byteCount: max(size, lineSize), alignment: max(lineSize, MemoryLayout<Value>.alignment))
        mutex = block.bindMemory(to: pthread_mutex_t.self, capacity: 1)
        pthread_mutex_init(mutex, nil)
        storage = (block + Self.valueOffset).bindMemory(to: Value.self, capacity: 1)
        storage.initialize(to: value)
    }

    deinit {
        storage.deinitialize(count: 1)
        pthread_mutex_destroy(mutex)
        UnsafeMutableRawPointer(mutex).deallocate()
    }

    @inline(__always)
    public borrowing func withLock<Result: ~Copyable, E: Error>(
        _ body: (inout Value) throws(E) -> Result
    ) throws(E) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&storage.pointee)
    }

    /// `body` under the lock if no one holds it, else nil without waiting (for work that may be skipped).
    @inline(__always)
    public borrowing func withLockIfAvailable<Result>(_ body: (inout Value) -> Result) -> Result? {
        guard pthread_mutex_trylock(mutex) == 0 else { return nil }
        defer { pthread_mutex_unlock(mutex) }
        return body(&storage.pointee)
    }
}
