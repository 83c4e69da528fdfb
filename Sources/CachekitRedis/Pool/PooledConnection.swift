import Glibc

/// What the pool needs of a connection: who opened it, whether its stream is still in step,
/// and two ways to let it go.
public protocol PooledConnection: AnyObject, Sendable {
    /// getpid() when the connection was opened: a pool never hands a connection to another
    /// process (a child after fork() shares the parent's socket and would cross replies).
    var ownerProcess: pid_t { get }
    /// False once a read or write failed, a deadline passed mid-reply or a reply was refused:
    /// the stream is out of step and the connection must not be reused.
    var isReusable: Bool { get }
    /// Closes the connection in the process that opened it.
    func close()
    /// Lets go of a connection inherited across fork(): closes this process's file descriptor
    /// only, never writes to the socket (no QUIT, no TLS close_notify), so the parent's copy
    /// of the same connection is untouched.
    func abandonAfterFork()
}
