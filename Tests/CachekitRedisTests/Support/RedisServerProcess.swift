import CachekitCore
import Glibc
@testable import CachekitRedis

/// A private redis-server for one test: started with the given arguments on a free loopback
/// port (or a unix socket in a temp dir), waited for until it accepts connections, stopped and
/// cleaned up by `stop()` or on deinit.
final class RedisServerProcess: @unchecked Sendable {
    let port: Int
    let directory: String
    let arguments: [String]
    private var pid: pid_t = 0

    /// `port` serves plain TCP, or TLS with `tls` (plain TCP is then off).
    /// `port`: nil for a free one; a given one restarts a server where an earlier one was.
    init(arguments extra: [String] = [], tls: Bool = false, waitForUnixSocket: String? = nil, port fixed: Int? = nil) throws {
        port = try fixed ?? freeLoopbackPort()
        directory = try makeTemporaryDirectory(prefix: "ck-conn-redis")
        let portArguments = tls ? ["--port", "0", "--tls-port", String(port)] : ["--port", String(port)]
        arguments = portArguments + [
            "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", directory, "--daemonize", "no", "--loglevel", "warning",
        ] + extra
        pid = try spawn("/usr/bin/redis-server", arguments)
        let started = MonotonicClock.preciseNanoseconds()
        while MonotonicClock.preciseNanoseconds() - started < 10_000_000_000 {
            if let path = waitForUnixSocket {
                if access(path, F_OK) == 0 { return }
            } else if loopbackAccepts(port: port) {
                return
            }
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                pid = 0
                break
            }
            usleep(20_000)
        }
        stop()
        throw TestFailure("redis-server \(arguments) did not start")
    }

    var url: String { "redis://127.0.0.1:\(port)" }
    var address: RedisAddress { .tcp(RedisHostPort(host: "127.0.0.1", port: port)) }

    /// SIGTERM, then SIGKILL after 5 s; the process is reaped and its directory removed.
    func stop() {
        if pid > 0 {
            kill(pid, SIGTERM)
            var status: Int32 = 0
            var waited = 0
            while waitpid(pid, &status, WNOHANG) == 0 {
                if waited == 250 { kill(pid, SIGKILL) }
                usleep(20_000)
                waited += 1
            }
            pid = 0
        }
        removeTree(directory)
    }

    deinit { stop() }
}

/// posix_spawn with stdout and stderr sent to /dev/null (Foundation's Process can hang in
/// waitUntilExit on Linux).
func spawn(_ executable: String, _ arguments: [String]) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    // The calling thread may block signals (libdispatch does): the child starts with none
    // blocked and default handlers, so SIGTERM stops it.
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var noSignals = sigset_t()
    sigemptyset(&noSignals)
    var defaults = sigset_t()
    sigemptyset(&defaults)
    for signal in [SIGTERM, SIGINT, SIGPIPE, SIGCHLD] { sigaddset(&defaults, signal) }
    posix_spawnattr_setsigmask(&attributes, &noSignals)
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid: pid_t = 0
    let result = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
    guard result == 0 else { throw TestFailure("posix_spawn \(executable) failed: \(result)") }
    return pid
}

/// Runs a program to completion; its exit status.
@discardableResult
func run(_ executable: String, _ arguments: [String]) throws -> Int32 {
    let pid = try spawn(executable, arguments)
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return (status >> 8) & 0xff
}

func makeTemporaryDirectory(prefix: String) throws -> String {
    var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
    let made = template.withUnsafeMutableBufferPointer { buffer -> String? in
        guard let base = buffer.baseAddress, mkdtemp(base) != nil else { return nil }
        return String(cString: base)
    }
    guard let made else { throw TestFailure("mkdtemp failed") }
    return made
}

func removeTree(_ path: String) {
    guard path.hasPrefix("/tmp/ck-conn-") else { return }
    _ = try? run("/bin/rm", ["-rf", path])
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A port the kernel just handed out on 127.0.0.1 and released.
func freeLoopbackPort() throws -> Int {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw TestFailure("socket failed") }
    defer { close(descriptor) }
    var address = loopbackAddress(port: 0)
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw TestFailure("bind failed") }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

func loopbackAddress(port: Int) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return address
}

func loopbackAccepts(port: Int) -> Bool {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { return false }
    defer { close(descriptor) }
    var address = loopbackAddress(port: port)
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    } == 0
}

/// Milliseconds a closure took, and what it threw or returned.
func timed<R>(_ body: () throws -> R) -> (milliseconds: Double, result: Result<R, any Error>) {
    let start = MonotonicClock.preciseNanoseconds()
    let result = Result { try body() }
    return (Double(MonotonicClock.preciseNanoseconds() - start) / 1e6, result)
}

/// The CachekitError a closure threw, or nil when it returned.
func thrown(_ body: () throws -> Void) -> CachekitError? {
    do {
        try body()
        return nil
    } catch let error as CachekitError {
        return error
    } catch {
        return CachekitError(.internal, "not a CachekitError: \(error)")
    }
}
