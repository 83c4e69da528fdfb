import CachekitCore
import Glibc

/// An opt-in background thread that SUBSCRIBEs to cachekit-py's invalidation channel on a
/// connection of its own (the client's URL: TLS, unix socket or the master Sentinel names) and
/// hands each well-formed event to `apply`. It reads in short slices so `stop()` returns within
/// about one slice, reconnects with a bounded backoff after any failure (a restarted or failed
/// over Redis is subscribed to again), bounds every message by the event cap before reading its
/// body, and never traps on what it reads. Delivery is at most once, as in cachekit-py: an event
/// sent while it is not subscribed is lost, and the entry expires by l1_ttl.
///
/// fork(): a child inherits no thread. The cache's subscription restarts itself in the child on
/// the child's first cache call that reaches Redis (`restartIfForked`).
final class InvalidationListener: InvalidationSubscription, @unchecked Sendable {  // thread fields: under `state`
    private struct State {
        var stopping = false
        var counters = ListenerCounters()
        var thread = pthread_t()
        var started = false
        /// The process that started the thread: a forked child has no such thread to join.
        var startedIn: pid_t = 0
    }

    static let pollSliceMilliseconds = 200
    static let maxConnectTimeoutMilliseconds = 1000
    static let minBackoffMilliseconds = 100
    static let maxBackoffMilliseconds = 2000
    /// A pushed message carries one event of at most InvalidationEvent.maxEventBytes. Messages
    /// up to 16 times that are read and dropped by the decoder (the subscription stays up);
    /// a larger claim is refused from its header and the connection is dropped.
    static let messageLimits = ReplyLimits.subscriberMessage(maxPayloadBytes: 16 * InvalidationEvent.maxEventBytes)

    private let client: RedisClient
    private let connectTimeoutMilliseconds: Int
    private let handshakeTimeoutMilliseconds: Int
    private let apply: @Sendable (InvalidationEvent) -> Void
    private let state = Locked(State())

    init(client: RedisClient, apply: @escaping @Sendable (InvalidationEvent) -> Void) {
        self.client = client
        // A connect does not look at the stop flag: capped so stop() stays prompt.
        connectTimeoutMilliseconds = min(client.settings.connectTimeoutMilliseconds, Self.maxConnectTimeoutMilliseconds)
        handshakeTimeoutMilliseconds = client.settings.commandTimeoutMilliseconds
        self.apply = apply
    }

    private final class Body {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }

    func start() throws(CachekitError) {
        try state.withLock { (state: inout State) throws(CachekitError) in
            state.stopping = false
            state.counters.running = true
            let body = Unmanaged.passRetained(Body { [self] in self.run() })
            let status = pthread_create(&state.thread, nil, { raw in
                guard let raw else { return nil }
                var all = sigset_t()
                sigfillset(&all)
                pthread_sigmask(SIG_BLOCK, &all, nil)  // signals belong to the host's threads
                Unmanaged<Body>.fromOpaque(raw).takeRetainedValue().run()
                return nil
            }, body.toOpaque())
            guard status == 0 else {
                body.release()
                state.counters.running = false
                throw CachekitError(.outOfMemory, "could not start the invalidation listener thread (error \(status))")
            }
            state.started = true
            state.startedIn = ProcessIdentity.current
        }
    }

    /// Asks the thread to stop and waits for it: at most about one read slice or connect timeout.
    func stop() {
        let thread = state.withLock { state -> pthread_t? in
            guard state.started else { return nil }
            state.started = false
            state.stopping = true
            return state.startedIn == ProcessIdentity.current ? state.thread : nil  // fork() copies no threads
        }
        if let thread { pthread_join(thread, nil) }
    }

    /// In a child of fork(): the parent's thread is not here, so start one for this process.
    func restartIfForked() {
        let forked = state.withLock { state -> Bool in
            guard state.started, state.startedIn != ProcessIdentity.current else { return false }
            state.started = false
            state.counters = ListenerCounters()
            return true
        }
        if forked { try? start() }  // a child that cannot start a thread keeps serving from L1 and Redis
    }

    var counters: ListenerCounters { state.withLock { $0.counters } }

    private var stopping: Bool { state.withLock { $0.stopping } }

    // MARK: The thread

    private func run() {
        var backoff = Self.minBackoffMilliseconds
        var subscriptions = 0
        while !stopping {
            if let connection = subscribe() {
                subscriptions += 1
                let again = subscriptions > 1
                state.withLock {
                    $0.counters.subscribed = true
                    if again { $0.counters.resubscriptions += 1 }
                }
                backoff = Self.minBackoffMilliseconds
                listen(connection)
                state.withLock { $0.counters.subscribed = false }
                connection.close()
            }
            if stopping { break }
            sleepUnlessStopping(milliseconds: backoff)
            backoff = min(backoff * 2, Self.maxBackoffMilliseconds)
        }
        state.withLock { $0.counters.running = false; $0.counters.subscribed = false }
    }

    /// Connects (AUTH and SELECT come with the connection), SUBSCRIBEs and waits for Redis to
    /// confirm; nil on any failure (the caller backs off and tries again).
    private func subscribe() -> RedisConnection? {
        guard let connection = try? client.openDedicatedConnection(connectTimeoutMilliseconds: connectTimeoutMilliseconds) else {
            return nil
        }
        let deadline = Deadline.after(milliseconds: handshakeTimeoutMilliseconds)
        do throws(CachekitError) {
            try connection.send(["SUBSCRIBE", .bytes(InvalidationEvent.channel)], deadline: deadline)
            // ["subscribe", channel, count], read in slices: a paused server must not hold stop().
            var confirmation: RedisValue?
            while confirmation == nil, !stopping, !deadline.hasPassed {
                confirmation = try connection.readReply(limits: .small, deadline: min(deadline, .after(milliseconds: Self.pollSliceMilliseconds)))
            }
            guard let reply = confirmation,
                  case .array(let parts) = reply, parts.count == 3, parts[0] == .bulk(Array("subscribe".utf8)) else {
                connection.close()
                return nil
            }
            return connection
        } catch {
            connection.close()
            return nil
        }
    }

    /// Reads messages until the connection fails or the listener is stopped.
    private func listen(_ connection: RedisConnection) {
        while !stopping {
            let message: RedisValue?
            do throws(CachekitError) {
                message = try connection.readReply(limits: Self.messageLimits,
                                                   deadline: .after(milliseconds: Self.pollSliceMilliseconds))
            } catch {
                if error.status == .replyTooLarge { state.withLock { $0.counters.dropped += 1 } }
                return  // the stream is out of step: reconnect
            }
            if let message { handle(message) }
        }
    }

    private func handle(_ message: RedisValue) {
        // ["message", channel, payload]; subscription confirmations and the rest are not events.
        guard case .array(let parts) = message, parts.count == 3, parts[0] == .bulk(Array("message".utf8)) else { return }
        state.withLock { $0.counters.received += 1 }
        guard case .bulk(let payload) = parts[2],
              let event = payload.withUnsafeBytes({ InvalidationEvent.decode($0) }) else {
            state.withLock { $0.counters.dropped += 1 }
            return
        }
        apply(event)
        state.withLock { $0.counters.applied += 1 }
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
