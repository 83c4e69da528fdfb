import CHiredis
import Glibc

/// Counters of a cache's invalidation listener.
public struct ListenerCounters: Sendable, Equatable {
    public var running = false
    public var subscribed = false
    /// Messages received on the channel.
    public var received = 0
    /// Events decoded and applied to L1.
    public var applied = 0
    /// Messages dropped as malformed, oversized or of the wrong shape.
    public var dropped = 0
    /// Subscriptions made after the first (reconnects after a failure).
    public var resubscriptions = 0
}

/// An opt-in background thread that SUBSCRIBEs to cachekit-py's invalidation channel on its own
/// hiredis connection and hands each well-formed event to `apply`. It polls the socket in short
/// slices so `stop()` returns within about one slice, reconnects with a bounded backoff after
/// any failure (a restarted Redis is subscribed to again), and never traps on what it reads.
/// Delivery is at most once, as in cachekit-py: an event sent while it is not subscribed is lost,
/// and the entry expires by l1_ttl.
final class InvalidationListener: @unchecked Sendable {  // the thread handle is written once, before any join
    private struct State {
        var stopping = false
        var counters = ListenerCounters()
    }

    static let pollSliceMilliseconds: Int32 = 200
    static let maxConnectTimeoutMilliseconds = 1000
    static let minBackoffMilliseconds = 100
    static let maxBackoffMilliseconds = 2000

    private let endpoint: RedisEndpoint
    private let connectTimeoutMilliseconds: Int
    private let handshakeTimeoutMilliseconds: Int
    private let apply: @Sendable (InvalidationEvent) -> Void
    private let state = Locked(State())
    private var thread = pthread_t()
    private var started = false
    /// The process that started the thread: a forked child has no such thread to join.
    private var startedIn: pid_t = 0

    init(endpoint: RedisEndpoint, connectTimeoutMilliseconds: Int, commandTimeoutMilliseconds: Int,
         apply: @escaping @Sendable (InvalidationEvent) -> Void) {
        self.endpoint = endpoint
        // A connect blocks without looking at the stop flag: capped so stop() stays prompt.
        self.connectTimeoutMilliseconds = min(connectTimeoutMilliseconds, Self.maxConnectTimeoutMilliseconds)
        handshakeTimeoutMilliseconds = commandTimeoutMilliseconds
        self.apply = apply
    }

    private final class Body {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }

    func start() throws(CachekitError) {
        state.withLock { $0.counters.running = true }
        let body = Unmanaged.passRetained(Body { [self] in self.run() })
        let status = pthread_create(&thread, nil, { raw in
            guard let raw else { return nil }
            var all = sigset_t()
            sigfillset(&all)
            pthread_sigmask(SIG_BLOCK, &all, nil)  // signals belong to the host's threads
            Unmanaged<Body>.fromOpaque(raw).takeRetainedValue().run()
            return nil
        }, body.toOpaque())
        guard status == 0 else {
            body.release()
            state.withLock { $0.counters.running = false }
            throw CachekitError(.outOfMemory, "could not start the invalidation listener thread (error \(status))")
        }
        started = true
        startedIn = getpid()
    }

    /// Asks the thread to stop and waits for it: at most about one poll slice or connect timeout.
    func stop() {
        guard started else { return }
        started = false
        state.withLock { $0.stopping = true }
        guard startedIn == getpid() else { return }  // fork() copies no threads
        pthread_join(thread, nil)
    }

    var counters: ListenerCounters { state.withLock { $0.counters } }

    private var stopping: Bool { state.withLock { $0.stopping } }

    // MARK: The thread

    private func run() {
        var backoff = Self.minBackoffMilliseconds
        var subscriptions = 0
        while !stopping {
            if let context = connect() {
                let subscribed = subscribe(context)
                if subscribed {
                    subscriptions += 1
                    let again = subscriptions > 1
                    state.withLock {
                        $0.counters.subscribed = true
                        if again { $0.counters.resubscriptions += 1 }
                    }
                    backoff = Self.minBackoffMilliseconds
                    listen(context)
                    state.withLock { $0.counters.subscribed = false }
                }
                redisFree(context)
            }
            if stopping { break }
            sleepUnlessStopping(milliseconds: backoff)
            backoff = min(backoff * 2, Self.maxBackoffMilliseconds)
        }
        state.withLock { $0.counters.running = false; $0.counters.subscribed = false }
    }

    private func connect() -> UnsafeMutablePointer<redisContext>? {
        let timeout = timeval(tv_sec: connectTimeoutMilliseconds / 1000, tv_usec: (connectTimeoutMilliseconds % 1000) * 1000)
        let raw: UnsafeMutablePointer<redisContext>?
        if let path = endpoint.unixSocketPath {
            raw = redisConnectUnixWithTimeout(path, timeout)
        } else {
            raw = redisConnectWithTimeout(endpoint.host, Int32(endpoint.port), timeout)
        }
        guard let raw else { return nil }
        // Blocking writes are bounded too; reads go through poll().
        let command = timeval(tv_sec: handshakeTimeoutMilliseconds / 1000, tv_usec: (handshakeTimeoutMilliseconds % 1000) * 1000)
        guard raw.pointee.err == 0, redisSetTimeout(raw, command) == REDIS_OK else {
            redisFree(raw)
            return nil
        }
        if endpoint.unixSocketPath == nil { _ = redisEnableKeepAlive(raw) }  // notices a peer gone without a FIN
        return raw
    }

    /// AUTH and SELECT from the URL, then SUBSCRIBE; true once Redis confirmed the subscription.
    private func subscribe(_ context: UnsafeMutablePointer<redisContext>) -> Bool {
        var commands: [[[UInt8]]] = []
        if let password = endpoint.password {
            var auth: [[UInt8]] = [Array("AUTH".utf8)]
            if let user = endpoint.username { auth.append(Array(user.utf8)) }
            auth.append(Array(password.utf8))
            commands.append(auth)
        }
        if endpoint.database != 0 { commands.append([Array("SELECT".utf8), Array(String(endpoint.database).utf8)]) }
        commands.append([Array("SUBSCRIBE".utf8), InvalidationEvent.channel])
        for args in commands where !append(context, args) { return false }
        var done: Int32 = 0
        while done == 0 {
            guard redisBufferWrite(context, &done) == REDIS_OK else { return false }
        }
        let deadline = MonotonicClock.preciseNanoseconds() &+ Int64(handshakeTimeoutMilliseconds) &* 1_000_000
        for i in commands.indices {
            guard let reply = nextReply(context, deadline: deadline) else { return false }
            defer { freeReplyObject(reply) }
            let top = reply.assumingMemoryBound(to: redisReply.self).pointee
            if top.type == REDIS_REPLY_ERROR { return false }
            if i == commands.count - 1 {
                // ["subscribe", channel, count]
                guard top.type == REDIS_REPLY_ARRAY, top.elements == 3, let elements = top.element,
                      let kind = elements[0], Self.equals(kind, "subscribe") else { return false }
            }
        }
        return true
    }

    private func append(_ context: UnsafeMutablePointer<redisContext>, _ args: [[UInt8]]) -> Bool {
        let joined = args.flatMap { $0 }
        var lengths = args.map(\.count)
        return joined.withUnsafeBufferPointer { bytes -> Bool in
            guard let base = bytes.baseAddress else { return false }  // every command here has a name
            var argv: [UnsafePointer<CChar>?] = []
            var offset = 0
            for length in lengths {
                argv.append(UnsafeRawPointer(base + offset).assumingMemoryBound(to: CChar.self))
                offset += length
            }
            return argv.withUnsafeMutableBufferPointer { argvBuffer in
                lengths.withUnsafeMutableBufferPointer { lengthBuffer in
                    redisAppendCommandArgv(context, Int32(args.count), argvBuffer.baseAddress, lengthBuffer.baseAddress) == REDIS_OK
                }
            }
        }
    }

    /// Reads messages until the connection fails or the listener is stopped.
    private func listen(_ context: UnsafeMutablePointer<redisContext>) {
        while let reply = nextReply(context, deadline: nil) {
            handle(reply.assumingMemoryBound(to: redisReply.self))
            freeReplyObject(reply)
        }
    }

    private func handle(_ reply: UnsafeMutablePointer<redisReply>) {
        let top = reply.pointee
        // ["message", channel, payload]; subscription confirmations and the rest are not events.
        guard top.type == REDIS_REPLY_ARRAY, top.elements == 3, let elements = top.element,
              let kind = elements[0], Self.equals(kind, "message"), let payload = elements[2] else { return }
        state.withLock { $0.counters.received += 1 }
        guard payload.pointee.type == REDIS_REPLY_STRING, payload.pointee.str != nil,
              let event = InvalidationEvent.decode(UnsafeRawBufferPointer(start: payload.pointee.str, count: payload.pointee.len))
        else {
            state.withLock { $0.counters.dropped += 1 }
            return
        }
        apply(event)
        state.withLock { $0.counters.applied += 1 }
    }

    private static func equals(_ element: UnsafeMutablePointer<redisReply>, _ text: StaticString) -> Bool {
        guard element.pointee.type == REDIS_REPLY_STRING, let str = element.pointee.str,
              element.pointee.len == text.utf8CodeUnitCount else { return false }
        return memcmp(str, text.utf8Start, text.utf8CodeUnitCount) == 0
    }

    /// The next reply: one already buffered, else waits in poll slices (checking the stop flag)
    /// until the socket has data. nil when stopped, past `deadline`, or the connection failed.
    private func nextReply(_ context: UnsafeMutablePointer<redisContext>, deadline: Int64?) -> UnsafeMutableRawPointer? {
        while true {
            var reply: UnsafeMutableRawPointer?
            guard let reader = context.pointee.reader, redisReaderGetReply(reader, &reply) == REDIS_OK else { return nil }
            if let reply { return reply }
            if stopping { return nil }
            if let deadline, MonotonicClock.preciseNanoseconds() >= deadline { return nil }
            var descriptor = pollfd(fd: context.pointee.fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, Self.pollSliceMilliseconds)
            if ready < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if ready == 0 { continue }
            guard redisBufferRead(context) == REDIS_OK else { return nil }  // EOF or error: reconnect
        }
    }

    private func sleepUnlessStopping(milliseconds: Int) {
        var left = milliseconds
        while left > 0, !stopping {
            let slice = min(left, 50)
            usleep(UInt32(slice * 1000))
            left -= slice
        }
    }
}
