import CachekitCore
import Glibc

/// The process's one subscriber for one Redis endpoint, shared by every cache on it
/// (`SubscriberRegistry`): a background thread on a connection of its own (the client's URL:
/// TLS, unix socket or the master Sentinel names) that carries cachekit-py's invalidation
/// channel for the caches that asked for it (invalidation_listener) and Redis's key-change
/// reports for the caches with l1_tracking: `CLIENT TRACKING on REDIRECT <its own id> BCAST
/// PREFIX <each prefix>`, then SUBSCRIBE `__redis__:invalidate` (RESP2: the reports arrive as
/// pub/sub messages, which hiredis 0.14 reads). One connection does both, so a process holds one
/// subscriber connection per endpoint however many caches it makes, and a pub/sub connection is
/// exempt from the server's idle `timeout`.
///
/// It reads in short slices so `stop()` returns within about one slice, reconnects with a
/// bounded backoff after any failure, and after each (re)connection drops the L1 of every
/// tracked cache (flush on gap: a change made while it was away was not reported). A cache
/// whose prefix the running connection does not cover gets a new connection made before the old
/// one is let go (a PING on the old one first, so no report in flight is lost), with no flush of
/// the others. Every message is bounded before its body is read; nothing it reads can trap.
/// Delivery of cachekit-py's events is at most once, as in cachekit-py.
///
/// fork(): a child inherits no thread; each member's tier restarts it in the child on the
/// child's first call that reaches Redis (`restartIfForked`); the child's first subscription
/// then flushes its L1 copies like any gap.
final class InvalidationListener: @unchecked Sendable {  // thread fields: under `state`
    struct Member {
        let events: (@Sendable (InvalidationEvent) -> Void)?
        let coherence: L1Coherence?
        /// The running connection gives this member all it asked for (its prefix tracked, the
        /// events channel subscribed).
        var covered = false

        /// `refused`: Redis refused tracking, so only the events can be served.
        func served(by plan: Plan, refused: Bool) -> Bool {
            var wanted = Plan(CollectionOfOne(self))
            if refused { wanted.prefixes = nil }
            return plan.satisfies(wanted)
        }
    }

    /// What one connection subscribes to.
    struct Plan: Equatable {
        /// nil: no tracking. Never two where one starts the other (Redis refuses overlaps).
        var prefixes: [[UInt8]]?
        var events: Bool

        init(_ members: some Sequence<Member>) {
            var wanted: [[UInt8]] = []
            var events = false
            for member in members {
                if member.events != nil { events = true }
                if let coherence = member.coherence { wanted.append(coherence.prefix) }
            }
            prefixes = wanted.isEmpty ? nil : Self.minimal(wanted)
            self.events = events
        }

        /// The shortest prefixes that cover all of `prefixes`, sorted.
        static func minimal(_ prefixes: [[UInt8]]) -> [[UInt8]] {
            var kept: [[UInt8]] = []
            for prefix in prefixes.sorted(by: { $0.count < $1.count }) where !kept.contains(where: { prefix.starts(with: $0) }) {
                kept.append(prefix)
            }
            return kept.sorted { $0.lexicographicallyPrecedes($1) }
        }

        func covers(_ member: Member) -> Bool {
            guard let coherence = member.coherence, let prefixes else { return false }
            return prefixes.contains { coherence.prefix.starts(with: $0) }
        }

        /// Everything `wanted` asks for is already here.
        func satisfies(_ wanted: Plan) -> Bool {
            if wanted.events, !events { return false }
            guard let needed = wanted.prefixes else { return true }
            guard let prefixes else { return false }
            return needed.allSatisfy { prefix in prefixes.contains { prefix.starts(with: $0) } }
        }

        var channels: [[UInt8]] {
            (prefixes == nil ? [] : [InvalidationListener.trackingChannel]) + (events ? [InvalidationEvent.channel] : [])
        }
    }

    private struct State {
        var stopping = false
        var counters = ListenerCounters()
        var thread = pthread_t()
        var started = false
        /// The process that started the thread: a forked child has no such thread to join.
        var startedIn: pid_t = 0
        var members: [Int: Member] = [:]
        var nextMember = 0
        /// Bumped when members come or go, so the thread looks at its plan again.
        var generation = 0
        /// Redis refused CLIENT TRACKING (older than 6.0, or an ACL): the caches keep l1_ttl.
        var trackingRefused = false
        /// What the running connection subscribes to (nil: none is confirmed).
        var activePlan: Plan?
        /// Connections tried, confirmed or not (a joining cache waits for the next one).
        var attempts = 0
    }

    /// Where Redis sends tracking reports to a RESP2 client that redirects them.
    static let trackingChannel: [UInt8] = Array("__redis__:invalidate".utf8)
    static let pollSliceMilliseconds = 200
    static let maxConnectTimeoutMilliseconds = 1000
    static let minBackoffMilliseconds = 100
    static let maxBackoffMilliseconds = 2000
    /// A cachekit-py message carries one event of at most InvalidationEvent.maxEventBytes; up to
    /// 16 times that is read and dropped by the decoder. A tracking report lists the keys changed
    /// in one server event-loop turn: up to 100 000 keys and 8 MiB. Anything larger is refused
    /// from its header and the connection dropped (then reconnected, with a flush: safe).
    static let messageLimits = ReplyLimits(maxBulkBytes: 16 * InvalidationEvent.maxEventBytes,
                                           maxArrayElements: 100_000, maxTotalBytes: 8_388_608)
    private static let barrierToken: [UInt8] = Array("cachekit:barrier".utf8)

    let client: RedisClient
    private let connectTimeoutMilliseconds: Int
    private let handshakeTimeoutMilliseconds: Int
    private let state = Locked(State())
    /// Held while a message is handed to members, so a member that leaves gets nothing after.
    private let dispatching = Locked(())

    init(client: RedisClient) {
        self.client = client
        // A connect does not look at the stop flag: capped so stop() stays prompt.
        connectTimeoutMilliseconds = min(client.settings.connectTimeoutMilliseconds, Self.maxConnectTimeoutMilliseconds)
        handshakeTimeoutMilliseconds = client.settings.commandTimeoutMilliseconds
    }

    // MARK: Members

    /// Adds a member: tracked at once when the running connection covers its prefix, else by
    /// the thread within a read slice.
    func join(_ request: SubscriptionRequest) -> Int {
        state.withLock { state in
            let id = state.nextMember
            state.nextMember &+= 1
            var member = Member(events: request.events, coherence: request.coherence)
            if let plan = state.activePlan, member.served(by: plan, refused: state.trackingRefused) {
                member.covered = true
                member.coherence?.trackingStarted()
            }
            state.members[id] = member
            state.generation &+= 1
            return id
        }
    }

    /// Waits until the running connection serves member `id` or one connection attempt has
    /// ended, at most `milliseconds`: so a new cache's first writes are tracked, not flushed
    /// moments later by the first confirmation (which drops what was stored before it) nor met
    /// twice by a connection swap, and a Redis that is down costs one refused connect, not the wait.
    func awaitTracking(_ id: Int, milliseconds: Int) {
        let (needed, attempts) = state.withLock { state in
            (state.members[id].map { !$0.covered } ?? false, state.attempts)
        }
        guard needed else { return }
        let deadline = Deadline.after(milliseconds: milliseconds)
        while !deadline.hasPassed {
            let settled = state.withLock { state in
                state.members[id]?.covered != false || state.attempts > attempts || state.trackingRefused
            }
            if settled { return }
            usleep(1_000)
        }
    }

    /// Removes a member and returns how many remain; nothing reaches it after this returns.
    func leave(_ id: Int) -> Int {
        let remaining = state.withLock { state -> Int in
            state.members[id] = nil
            state.generation &+= 1
            return state.members.count
        }
        dispatching.withLock { _ in }
        return remaining
    }

    // MARK: The thread's life

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
            for id in state.members.keys { state.members[id]?.covered = false }
            state.generation &+= 1
            return true
        }
        guard forked else { return }
        lost()
        try? start()  // a child that cannot start a thread keeps serving from L1 and Redis
    }

    var counters: ListenerCounters { state.withLock { $0.counters } }

    /// The counters as member `id` sees them: subscribed only once the connection serves it.
    func counters(for id: Int) -> ListenerCounters {
        state.withLock { state in
            var counters = state.counters
            counters.subscribed = counters.subscribed && state.members[id]?.covered == true
            return counters
        }
    }

    private var stopping: Bool { state.withLock { $0.stopping } }
    private var members: [Member] { state.withLock { Array($0.members.values) } }

    // MARK: The thread

    private func run() {
        var backoff = Self.minBackoffMilliseconds
        var subscriptions = 0
        while !stopping {
            let (wanted, generation) = currentPlan()
            if let (connection, plan) = subscribe(wanted) {
                subscriptions += 1
                let again = subscriptions > 1
                state.withLock {
                    $0.counters.subscribed = true
                    if again { $0.counters.resubscriptions += 1 }
                }
                established(plan, fresh: true)
                backoff = Self.minBackoffMilliseconds
                let last = listen(connection, plan: plan, generation: generation)
                state.withLock { $0.counters.subscribed = false }
                last.close()
                lost()
            }
            if stopping { break }
            sleepUnlessStopping(milliseconds: backoff)
            backoff = min(backoff * 2, Self.maxBackoffMilliseconds)
        }
        state.withLock { $0.counters.running = false; $0.counters.subscribed = false }
    }

    private func currentPlan() -> (Plan, Int) {
        state.withLock { state in
            var plan = Plan(state.members.values)
            if state.trackingRefused { plan.prefixes = nil }
            return (plan, state.generation)
        }
    }

    /// The connection `plan` describes is confirmed: the members it covers start tracking (all
    /// of them after a fresh connection, the newly covered ones after a swap), flushing L1.
    /// Under the state lock, so a joining member sees either the old plan or the new one.
    private func established(_ plan: Plan, fresh: Bool) {
        state.withLock { state in
            state.activePlan = plan
            for (id, member) in state.members {
                if plan.covers(member), fresh || !member.covered { member.coherence?.trackingStarted() }
                state.members[id]?.covered = member.served(by: plan, refused: state.trackingRefused)
            }
        }
    }

    /// The connection is gone: reports may be missed until the next one is confirmed.
    private func lost() {
        state.withLock { state in
            state.activePlan = nil
            for (id, member) in state.members {
                member.coherence?.trackingLost()
                state.members[id]?.covered = false
            }
        }
    }

    /// Connects (AUTH and SELECT come with the connection), turns tracking on towards itself,
    /// SUBSCRIBEs and waits for Redis to confirm each channel; nil on any failure (the caller
    /// backs off and tries again). The plan it returns lacks the prefixes when Redis refused tracking.
    private func subscribe(_ wanted: Plan) -> (RedisConnection, Plan)? {
        var plan = wanted
        defer { state.withLock { $0.attempts &+= 1 } }
        guard !plan.channels.isEmpty,
              let connection = try? client.openDedicatedConnection(connectTimeoutMilliseconds: connectTimeoutMilliseconds) else {
            return nil
        }
        let deadline = Deadline.after(milliseconds: handshakeTimeoutMilliseconds)
        do throws(CachekitError) {
            var channels = plan.channels
            if let prefixes = plan.prefixes, !(try enableTracking(connection, prefixes: prefixes, deadline: deadline)) {
                plan.prefixes = nil
                channels.removeAll { $0 == Self.trackingChannel }
                if channels.isEmpty {
                    connection.close()
                    return nil
                }
            }
            try connection.send(["SUBSCRIBE"] + channels.map { .bytes($0) }, deadline: deadline)
            // ["subscribe", channel, count] per channel, read in slices: a paused server must not hold stop().
            var confirmed = 0
            while confirmed < channels.count, !stopping, !deadline.hasPassed {
                guard let reply = try connection.readReply(limits: .small, deadline: min(deadline, .after(milliseconds: Self.pollSliceMilliseconds))) else {
                    continue
                }
                guard case .array(let parts) = reply, parts.count == 3, parts[0] == .bulk(Array("subscribe".utf8)) else { break }
                confirmed += 1
            }
            guard confirmed == channels.count else {
                connection.close()
                return nil
            }
            return (connection, plan)
        } catch {
            connection.close()
            return nil
        }
    }

    /// CLIENT ID, then CLIENT TRACKING on REDIRECT to that id in BCAST mode for `prefixes` (an
    /// empty prefix: no PREFIX, every key). False when Redis refuses tracking (it is then left
    /// off for this listener); a transport failure throws.
    private func enableTracking(_ connection: RedisConnection, prefixes: [[UInt8]], deadline: Deadline) throws(CachekitError) -> Bool {
        guard case .integer(let id) = try request(connection, ["CLIENT", "ID"], deadline: deadline) else { return refused() }
        var command: [RedisArgument] = ["CLIENT", "TRACKING", "on", "REDIRECT", .integer(id), "BCAST"]
        for prefix in prefixes where !prefix.isEmpty { command += ["PREFIX", .bytes(prefix)] }
        guard case .simple = try request(connection, command, deadline: deadline) else { return refused() }
        return true
    }

    private func refused() -> Bool {
        state.withLock { $0.trackingRefused = true }
        return false
    }

    /// One command and its reply, read in slices so a paused server does not hold stop().
    private func request(_ connection: RedisConnection, _ command: [RedisArgument], deadline: Deadline) throws(CachekitError) -> RedisValue {
        try connection.send(command, deadline: deadline)
        while !stopping, !deadline.hasPassed {
            if let reply = try connection.readReply(limits: .small, deadline: min(deadline, .after(milliseconds: Self.pollSliceMilliseconds))) {
                return reply
            }
        }
        throw CachekitError(.backendTimeout, "Redis did not answer the subscriber's handshake in time")
    }

    /// Reads messages until the connection fails or the listener is stopped; when members
    /// change so that `plan` no longer covers them, makes the next connection before letting
    /// this one go. Returns the connection in use at the end, for the caller to close.
    private func listen(_ first: RedisConnection, plan initialPlan: Plan, generation firstGeneration: Int) -> RedisConnection {
        var connection = first
        var plan = initialPlan
        var seen = firstGeneration
        var nextAttempt: Int64 = 0
        while !stopping {
            let message: RedisValue?
            do throws(CachekitError) {
                message = try connection.readReply(limits: Self.messageLimits,
                                                   deadline: .after(milliseconds: Self.pollSliceMilliseconds))
            } catch {
                if error.status == .replyTooLarge { state.withLock { $0.counters.dropped += 1 } }
                return connection  // the stream is out of step: reconnect
            }
            if let message { handle(message) }
            // After a failover the demoted master reports only its own writes until Sentinel
            // reconfigures it (~10 s): move to the new master as soon as the resolver names it.
            if let sentinel = client.sentinel, !sentinel.accepts(connection) { return connection }
            let (wanted, generation) = currentPlan()
            guard generation != seen else { continue }
            if plan.satisfies(wanted) {
                seen = generation
                established(plan, fresh: false)
                continue
            }
            let now = MonotonicClock.nowNanoseconds()
            guard now >= nextAttempt else { continue }
            guard let (next, served) = subscribe(wanted) else {
                nextAttempt = now &+ Int64(Self.maxBackoffMilliseconds) &* 1_000_000
                continue
            }
            let drained = drainForSwap(connection)
            connection.close()
            connection = next
            plan = served
            seen = generation
            established(plan, fresh: !drained)
        }
        return connection
    }

    /// Before a swap: a PING on the old connection, read back with every message before it, so
    /// no report sent to it before the new one was confirmed is lost. False if that failed.
    private func drainForSwap(_ connection: RedisConnection) -> Bool {
        let deadline = Deadline.after(milliseconds: handshakeTimeoutMilliseconds)
        do throws(CachekitError) {
            try connection.send(["PING", .bytes(Self.barrierToken)], deadline: deadline)
            while !deadline.hasPassed {
                guard let message = try connection.readReply(limits: Self.messageLimits, deadline: deadline) else { continue }
                if case .array(let parts) = message, parts.count == 2, parts[0] == .bulk(Array("pong".utf8)) { return true }
                handle(message)
            }
        } catch {}
        return false
    }

    private func handle(_ message: RedisValue) {
        // ["message", channel, payload]; subscription confirmations and the rest are not events.
        guard case .array(let parts) = message, parts.count == 3, parts[0] == .bulk(Array("message".utf8)),
              case .bulk(let channel) = parts[1] else { return }
        dispatching.withLock { _ in
            if channel == Self.trackingChannel {
                report(parts[2])
            } else if channel == InvalidationEvent.channel {
                event(parts[2])
            }
        }
    }

    /// A tracking report: the keys changed (an array), or null for FLUSHDB / FLUSHALL.
    private func report(_ payload: RedisValue) {
        let tracked = members.compactMap(\.coherence)
        switch payload {
        case .null:
            for coherence in tracked { coherence.serverFlushed() }
        case .array(let keys):
            for case .bulk(let key) in keys {
                for coherence in tracked where key.starts(with: coherence.prefix) { coherence.invalidate(key) }
            }
        default:
            break
        }
    }

    private func event(_ payload: RedisValue) {
        state.withLock { $0.counters.received += 1 }
        guard case .bulk(let bytes) = payload,
              let event = bytes.withUnsafeBytes({ InvalidationEvent.decode($0) }) else {
            state.withLock { $0.counters.dropped += 1 }
            return
        }
        for member in members { member.events?(event) }
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
