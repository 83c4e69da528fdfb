import Glibc
import Synchronization

/// This process's id without a system call per check: glibc's getpid() is a real syscall since
/// 2.25, and the Redis paths compare the process several times per call (pool, backpressure,
/// listener restart). A pthread_atfork child handler, registered before the first read, stores
/// the child's pid. (A child made by a raw clone(2) that skips glibc's fork handlers is not
/// seen; fork(), os.fork() and posix_spawn are.)
enum ProcessIdentity {
    static var current: pid_t {
        _ = registration
        return processID.load(ordering: .relaxed)
    }

    private static let registration: Void = {
        pthread_atfork(nil, nil, { processID.store(getpid(), ordering: .relaxed) })
    }()
}

private let processID = Atomic<pid_t>(getpid())
