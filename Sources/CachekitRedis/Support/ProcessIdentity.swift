import CCachekitShims
import Glibc

/// This process's id without a system call per check: the Redis paths compare the process
/// several times per call (pool, backpressure, listener restart), and glibc's getpid() is a real
/// syscall. The C shim keeps it current from a pthread_atfork child handler registered at load
/// time. (A child made by a raw clone(2) that skips glibc's fork handlers is not seen; fork(),
/// os.fork() and posix_spawn are.)
enum ProcessIdentity {
    @inline(__always)
    static var current: pid_t { ckshim_process_id() }
}
