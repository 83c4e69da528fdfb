import CachekitCore
import CCachekitShims
import Glibc

/// Where a connection goes: a TCP host and port, or a unix socket.
public enum RedisAddress: Sendable, Hashable, CustomStringConvertible {
    case tcp(RedisHostPort)
    case unix(path: String)

    public var description: String {
        switch self {
        case .tcp(let address): return address.description
        case .unix(let path): return "unix:\(escapedForMessage(path))"
        }
    }
}

/// A connected stream socket whose every wait is bounded by the caller's deadline, which is why
/// this is ours: hiredis 0.14 takes one timeout per read (SO_RCVTIMEO), so a server trickling
/// bytes stretches a call without bound. The connect is non-blocking with poll(2); after it the
/// socket blocks, with SO_RCVTIMEO / SO_SNDTIMEO kept no later than the deadline (set only when
/// the one in force would overrun it by over a millisecond, so a steady run of calls sets it
/// once), and the deadline is checked again after every partial read or write: a call ends by
/// its deadline plus at most a millisecond, in one recv per reply instead of recv, poll, recv.
final class StreamSocket {
    let descriptor: Int32
    let address: RedisAddress
    /// The kernel timeouts in force, in milliseconds (0: none set yet).
    private var receiveTimeout: Int32 = 0
    private var sendTimeout: Int32 = 0

    private init(descriptor: Int32, address: RedisAddress) {
        self.descriptor = descriptor
        self.address = address
    }

    /// Connects within the deadline: a unix socket, or each address `getaddrinfo` gives for
    /// the host in turn (as redis-py does), with TCP_NODELAY and cachekit-py's keepalive.
    /// Names are resolved on a lookup thread (the C shim) given up at the same deadline; IP
    /// literals need no lookup at all.
    static func connect(to address: RedisAddress, deadline: Deadline) throws(CachekitError) -> StreamSocket {
        switch address {
        case .unix(let path): return try connectUnix(path: path, address: address, deadline: deadline)
        case .tcp(let target): return try connectTCP(target, address: address, deadline: deadline)
        }
    }

    private static func connectUnix(path: String, address: RedisAddress, deadline: Deadline) throws(CachekitError) -> StreamSocket {
        var socketAddress = sockaddr_un()
        socketAddress.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: socketAddress.sun_path)
        guard pathBytes.count < capacity, !pathBytes.contains(0) else {
            throw CachekitError(.invalidConfig, "unix socket path is longer than \(capacity - 1) bytes or contains NUL")
        }
        withUnsafeMutableBytes(of: &socketAddress.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
        }
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw systemError(.backendUnavailable, "could not create a unix socket") }
        let connected = StreamSocket(descriptor: descriptor, address: address)
        let result = withUnsafePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        if result != 0 {
            let code = errno
            let outcome = code == EINPROGRESS || code == EAGAIN ? try connected.finishConnect(deadline: deadline) : code
            guard outcome == 0 else {
                connected.closeDescriptor()
                throw CachekitError(.backendUnavailable, "connect to \(address) failed: \(describe(errno: outcome))")
            }
        }
        try connected.becomeBlocking()
        return connected
    }

    private static func connectTCP(_ target: RedisHostPort, address: RedisAddress, deadline: Deadline) throws(CachekitError) -> StreamSocket {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        var list: UnsafeMutablePointer<addrinfo>?
        // IP literals need no lookup; names are resolved within the connect deadline.
        hints.ai_flags = AI_NUMERICHOST
        var status = getaddrinfo(target.host, String(target.port), &hints, &list)
        if status == EAI_NONAME {
            hints.ai_flags = 0
            status = ckshim_getaddrinfo_within(target.host, String(target.port), &hints,
                                               max(deadline.remainingMilliseconds, 1), &list)
        }
        if status == CKSHIM_EAI_TIMEOUT {
            throw CachekitError(.backendTimeout,
                                "resolving Redis host \(escapedForMessage(target.host)) did not finish within the connect timeout")
        }
        guard status == 0, let first = list else {
            let reason = status == EAI_SYSTEM ? describe(errno: errno) : String(cString: gai_strerror(status))
            throw CachekitError(.backendUnavailable, "could not resolve Redis host \(escapedForMessage(target.host)): \(reason)")
        }
        defer { freeaddrinfo(first) }
        var failures: [String] = []
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let current = entry {
            entry = current.pointee.ai_next
            let info = current.pointee
            let descriptor = socket(info.ai_family, info.ai_socktype | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), info.ai_protocol)
            guard descriptor >= 0 else {
                failures.append(describe(errno: errno))
                continue
            }
            let connected = StreamSocket(descriptor: descriptor, address: address)
            connected.setTCPOptions()
            let code = Glibc.connect(descriptor, info.ai_addr, info.ai_addrlen) == 0 ? 0 : errno
            let outcome = code == EINPROGRESS ? try connected.finishConnect(deadline: deadline) : code
            if outcome == 0 {
                try connected.becomeBlocking()
                return connected
            }
            connected.closeDescriptor()
            failures.append(describe(errno: outcome))
        }
        throw CachekitError(.backendUnavailable, "connect to \(address) failed: \(failures.joined(separator: "; "))")
    }

    /// After the connect: blocking calls under kernel timeouts (see the type's comment).
    private func becomeBlocking() throws(CachekitError) {
        let flags = fcntl(descriptor, F_GETFL)
        guard flags >= 0, fcntl(descriptor, F_SETFL, flags & ~O_NONBLOCK) == 0 else {
            closeDescriptor()
            throw Self.systemError(.backendUnavailable, "could not configure the Redis socket")
        }
    }

    /// Keeps the kernel timeout `option` no later than the deadline: false when it has passed.
    /// `raise`: the timeout in force fired before the deadline, so lengthen it.
    private func bound(_ option: Int32, _ current: inout Int32, by deadline: Deadline, raise: Bool = false) throws(CachekitError) -> Bool {
        let remaining = deadline.remainingMilliseconds
        guard remaining > 0 else { return false }
        guard current == 0 || current > remaining &+ 1 || (raise && current < remaining) else { return true }
        var value = timeval(tv_sec: Int(remaining / 1000), tv_usec: Int(remaining % 1000) * 1000)
        guard setsockopt(descriptor, SOL_SOCKET, option, &value, socklen_t(MemoryLayout<timeval>.size)) == 0 else {
            throw Self.systemError(.backendUnavailable, "could not set the Redis socket's timeout")
        }
        current = remaining
        return true
    }

    /// Waits for a non-blocking connect to finish: 0 once connected, else its errno (SO_ERROR).
    /// The deadline passing closes the socket and throws `.backendTimeout`.
    private func finishConnect(deadline: Deadline) throws(CachekitError) -> Int32 {
        let ready: Bool
        do throws(CachekitError) { ready = try waitUntilReady(events: Int16(POLLOUT), deadline: deadline) } catch {
            closeDescriptor()
            throw error
        }
        guard ready else {
            closeDescriptor()
            throw CachekitError(.backendTimeout, "connect to \(address) did not finish within the connect timeout")
        }
        var code: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        if getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &code, &length) != 0 { code = errno }
        return code
    }

    /// TCP_NODELAY, and SO_KEEPALIVE with redis-py's defaults (idle 30 s, every 5 s, 3 probes),
    /// which cachekit-py turns on. Failures are ignored: they only lose an optimisation.
    private func setTCPOptions() {
        var on: Int32 = 1
        let size = socklen_t(MemoryLayout<Int32>.size)
        _ = setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &on, size)
        _ = setsockopt(descriptor, SOL_SOCKET, SO_KEEPALIVE, &on, size)
        for (option, value) in [(TCP_KEEPIDLE, Int32(30)), (TCP_KEEPINTVL, 5), (TCP_KEEPCNT, 3)] {
            var setting = value
            _ = setsockopt(descriptor, Int32(IPPROTO_TCP), option, &setting, size)
        }
    }

    /// poll(2) until `events` or the deadline: false when the deadline passed first.
    /// An error or hang-up condition counts as ready, so the next read or write reports it.
    func waitUntilReady(events: Int16, deadline: Deadline) throws(CachekitError) -> Bool {
        while true {
            let wait = deadline.remainingMilliseconds
            if wait == 0 { return false }
            var entry = pollfd(fd: descriptor, events: events, revents: 0)
            let ready = poll(&entry, 1, wait)
            if ready > 0 { return true }
            if ready == 0 { continue }  // re-check: poll may wake a little early
            if errno != EINTR { throw Self.systemError(.backendUnavailable, "poll on the Redis connection failed") }
        }
    }

    /// True when a read would not wait: bytes, end of stream or an error are there now.
    func isReadableNow() -> Bool {
        var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        return poll(&entry, 1, 0) != 0
    }

    /// Sends every byte of `buffers` (one sendmsg per batch of iovecs) before the deadline.
    func sendAll(_ buffers: [UnsafeRawBufferPointer], deadline: Deadline) throws(CachekitError) {
        var pending = buffers.filter { $0.count > 0 }
        var first = 0
        var timedOut = false
        while first < pending.count {
            // Past the deadline: one attempt that does not wait (a close_notify "if it fits").
            let inTime = try bound(SO_SNDTIMEO, &sendTimeout, by: deadline, raise: timedOut)
            if !inTime, timedOut {
                throw CachekitError(.backendTimeout, "write to Redis at \(address) did not finish before the deadline")
            }
            let flags = Int32(MSG_NOSIGNAL) | (inTime ? 0 : Int32(MSG_DONTWAIT))
            timedOut = !inTime
            let batch = min(pending.count &- first, 512)
            var vectors = [iovec]()
            vectors.reserveCapacity(batch)
            for index in first..<(first &+ batch) {
                vectors.append(iovec(iov_base: UnsafeMutableRawPointer(mutating: pending[index].baseAddress), iov_len: pending[index].count))
            }
            let sent: Int = vectors.withUnsafeMutableBufferPointer { vectorBuffer in
                var message = msghdr()
                message.msg_iov = vectorBuffer.baseAddress
                message.msg_iovlen = vectorBuffer.count
                return sendmsg(descriptor, &message, flags)
            }
            if sent < 0 {
                let code = errno
                if code == EINTR { continue }
                guard code == EAGAIN || code == EWOULDBLOCK else {
                    throw CachekitError(.backendUnavailable, "write to Redis at \(address) failed: \(Self.describe(errno: code))")
                }
                timedOut = true  // SO_SNDTIMEO fired: the deadline is checked at the top
                continue
            }
            var remaining = sent
            while remaining > 0, first < pending.count {
                let length = pending[first].count
                if remaining >= length {
                    remaining &-= length
                    first &+= 1
                } else {
                    pending[first] = UnsafeRawBufferPointer(rebasing: pending[first][remaining...])
                    remaining = 0
                }
            }
        }
    }

    /// Reads what is there, waiting up to the deadline: the count of bytes read, or nil when
    /// the deadline passed with nothing. End of stream and errors throw `.backendUnavailable`.
    func receive(into buffer: UnsafeMutableRawBufferPointer, deadline: Deadline) throws(CachekitError) -> Int? {
        var timedOut = false
        while true {
            // Past the deadline: only what is already there (one recv that does not wait).
            let inTime = try bound(SO_RCVTIMEO, &receiveTimeout, by: deadline, raise: timedOut)
            if !inTime, timedOut { return nil }
            timedOut = !inTime
            let count = recv(descriptor, buffer.baseAddress, buffer.count, inTime ? 0 : Int32(MSG_DONTWAIT))
            if count > 0 { return count }
            if count == 0 { throw CachekitError(.backendUnavailable, "Redis at \(address) closed the connection") }
            let code = errno
            if code == EINTR { continue }
            guard code == EAGAIN || code == EWOULDBLOCK else {
                throw CachekitError(.backendUnavailable, "read from Redis at \(address) failed: \(Self.describe(errno: code))")
            }
            timedOut = true  // SO_RCVTIMEO fired: the deadline is checked at the top
        }
    }

    func closeDescriptor() {
        _ = Glibc.close(descriptor)
    }

    static func describe(errno code: Int32) -> String {
        String(cString: strerror(code))
    }

    static func systemError(_ status: Status, _ what: String) -> CachekitError {
        CachekitError(status, "\(what): \(describe(errno: errno))")
    }
}
