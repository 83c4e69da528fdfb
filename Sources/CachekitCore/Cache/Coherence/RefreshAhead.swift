import Glibc

/// Computes a value again in the background (refresh-ahead). Set on a cache by its host; it is
/// called on the cache's refresh thread with the key (without the prefix).
public typealias Refresher = @Sendable (_ key: UnsafeRawBufferPointer) throws(CachekitError) -> [UInt8]

/// Refresh-ahead (Caffeine's refreshAfterWrite, cachekit-rs's stale-while-revalidate): a
/// get_or_compute hit on an entry older than `ratio` of its TTL is returned at once, and one
/// refresh per key per process is queued for the cache's refresh thread, which recomputes
/// through the host's `Refresher` under a one-attempt fill lock (a lock held elsewhere means
/// another process is refreshing or filling: skipped). A refresh that fails leaves the old
/// value to its TTL. The thread starts at the first refresh and is joined by `stop()` (the
/// cache's deinit and cachekit_cache_free), which waits for a refresh in progress.
final class RefreshAhead: @unchecked Sendable {  // thread, written under `state`'s lock and joined once
    let ratio: Double
    /// Full key -> the monotonic time after which a hit schedules a refresh.
    private let due = Locked<[[UInt8]: Int64]>([:])
    private let state = Monitor(State())
    private static let maxQueued = 1024
    private static let maxDue = 100_000

    private struct State {
        var refresher: Refresher?
        var queue: [@Sendable () -> Void] = []
        var queued = Set<[UInt8]>()
        var thread: pthread_t?
        var running = false
        var stopped = false
    }

    init(ratio: Double) { self.ratio = ratio }

    var isEnabled: Bool { ratio > 0 }

    /// Replaces the refresher (nil: none). Returns once no refresh runs the old one.
    func setRefresher(_ refresher: Refresher?) {
        let onRefreshThread = state.withLock { s -> Bool in
            s.refresher = refresher
            return s.thread.map { pthread_equal($0, pthread_self()) != 0 } ?? false
        }
        guard !onRefreshThread else { return }  // the refresh in progress is the caller's own
        _ = state.wait(until: Deadline(nanoseconds: Int64.max), { (s: inout State) -> Bool? in s.running ? nil : true },
                       timedOut: { (_: inout State) -> Bool in true })
    }

    var refresher: Refresher? { state.withLock { $0.refresher } }

    /// Records when an entry filled or read now, with `remaining` nanoseconds of a `ttl` left,
    /// becomes due for a refresh.
    func note(_ full: [UInt8], remaining: Int64, ttl: Int64, now: Int64 = MonotonicClock.nowNanoseconds()) {
        guard isEnabled, ttl > 0, remaining > 0 else { return }
        // (1 - ratio) * ttl lies in 0...ttl; the clamp keeps a TTL near Int64.max from trapping.
        let early = Int64(exactly: ((1 - ratio) * Double(ttl)).rounded(.down)) ?? ttl
        let (sum, overflow) = now.addingReportingOverflow(max(remaining &- early, 0))
        let at = overflow ? Int64.max : sum
        due.withLock { table in
            if table.count >= Self.maxDue, table[full] == nil { table.removeAll(keepingCapacity: true) }
            table[full] = at
        }
    }

    /// Whether `full` is due; the first caller to see it due takes it (later ones see no entry).
    func takeIfDue(_ full: [UInt8], now: Int64 = MonotonicClock.nowNanoseconds()) -> Bool {
        guard isEnabled else { return false }
        return due.withLock { table in
            guard let at = table[full], at <= now else { return false }
            table[full] = nil
            return true
        }
    }

    /// Undoes a `takeIfDue` whose refresh will not run (the host's cap on refreshes in flight, a
    /// full queue), so a later hit sees the entry due again. A write since then set a new time,
    /// which stays.
    func giveBack(_ full: [UInt8], now: Int64 = MonotonicClock.nowNanoseconds()) {
        guard isEnabled else { return }
        due.withLock { table in
            guard table[full] == nil, table.count < Self.maxDue else { return }
            table[full] = now
        }
    }

    /// Queues `job` for `full` on the refresh thread (started on first use); false when a refresh
    /// of the key is already queued, the queue is full, the thread cannot start, or after stop.
    func enqueue(_ full: [UInt8], _ job: @escaping @Sendable () -> Void) -> Bool {
        let accepted = state.withLock { s -> Bool in
            guard !s.stopped, s.refresher != nil, s.queue.count < Self.maxQueued, !s.queued.contains(full) else { return false }
            // Started under the lock, so two first refreshes start one thread and stop() always
            // sees the thread it must join (the new thread waits for this lock before it runs).
            if s.thread == nil {
                guard let thread = startThread() else { return false }
                s.thread = thread
            }
            s.queue.append(job)
            s.queued.insert(full)
            return true
        }
        if accepted { state.signal() }
        return accepted
    }

    /// Marks a queued key done.
    func finished(_ full: [UInt8]) { state.withLock { _ = $0.queued.remove(full) } }

    private final class Box { let owner: RefreshAhead; init(_ owner: RefreshAhead) { self.owner = owner } }

    private func startThread() -> pthread_t? {
        var thread = pthread_t()
        let box = Unmanaged.passRetained(Box(self)).toOpaque()
        let status = pthread_create(&thread, nil, { raw in
            guard let raw else { return nil }
            let owner = Unmanaged<Box>.fromOpaque(raw).takeRetainedValue().owner
            owner.runLoop()
            return nil
        }, box)
        guard status == 0 else {
            Unmanaged<Box>.fromOpaque(box).release()
            return nil
        }
        return thread
    }

    private func runLoop() {
        while true {
            let job = state.wait(until: Deadline(nanoseconds: Int64.max), { (s: inout State) -> (@Sendable () -> Void)?? in
                if s.stopped { return .some(nil) }
                guard !s.queue.isEmpty else { return nil }
                s.running = true
                return .some(s.queue.removeFirst())
            }, timedOut: { (_: inout State) -> (@Sendable () -> Void)? in nil })
            guard let job else { return }
            job()
            state.withLock { $0.running = false }
            state.broadcast()
        }
    }

    /// Stops the thread after the refresh in progress and joins it; queued refreshes are dropped.
    /// From the refresh thread itself (a refresh that dropped the last reference) it detaches.
    func stop() {
        let thread = state.withLock { s -> pthread_t? in
            s.stopped = true
            s.queue.removeAll()
            defer { s.thread = nil }
            return s.thread
        }
        state.broadcast()
        guard let thread else { return }
        if pthread_equal(thread, pthread_self()) != 0 {
            pthread_detach(thread)
        } else {
            pthread_join(thread, nil)
        }
    }
}

extension Cache {
    /// The host's refresher for refresh-ahead (nil: none, and refresh-ahead does nothing).
    public func setRefresher(_ refresher: Refresher?) { refreshAhead.setRefresher(refresher) }

    /// Stops the refresh thread (waiting for a refresh in progress); cachekit_cache_free calls it
    /// before it lets the cache go.
    public func stopBackgroundWork() { refreshAhead.stop() }

    /// After an L2 hit with `remainingMilliseconds` left (PTTL): sliding TTL and the
    /// refresh-ahead clock.
    func afterL2Hit(_ full: [UInt8], remainingMilliseconds: Int64?, ttlSeconds: Int) {
        guard let remaining = remainingMilliseconds, remaining > 0, ttlSeconds > 0 else { return }
        let ttlMilliseconds = Int64(ttlSeconds).multipliedReportingOverflow(by: 1000)
        guard !ttlMilliseconds.overflow else { return }
        refreshAhead.note(full, remaining: Self.nanoseconds(milliseconds: remaining),
                          ttl: Self.nanoseconds(milliseconds: ttlMilliseconds.partialValue))
        // cachekit-py's _refresh_ttl_if_due: only below the threshold, with EXPIRE key ttl.
        guard coherence.refreshTTLOnGet, let store = l2 as? any CoherentL2Store,
              Double(remaining) < Double(ttlMilliseconds.partialValue) * coherence.ttlRefreshThreshold else { return }
        let extended = FailOpen.absorb(stats, fallback: false) { () throws(CachekitError) -> Bool in
            try store.expire(full, seconds: ttlSeconds)
        }
        if extended { CacheStats.bump(stats.ttlRefreshes) }
    }

    /// Milliseconds (PTTL's, foreign data) as nanoseconds, saturating.
    static func nanoseconds(milliseconds: Int64) -> Int64 {
        let (value, overflow) = milliseconds.multipliedReportingOverflow(by: 1_000_000)
        return overflow ? Int64.max : value
    }

    /// After this cache stored `stored` under `full` for `ttlSeconds` (any write: set, a fill, a
    /// refresh): starts its refresh-ahead clock and keeps its stale-if-error copy.
    func noteStored(_ full: [UInt8], _ stored: UnsafeRawBufferPointer, ttlSeconds: Int) {
        guard refreshAhead.isEnabled || staleCopies.isEnabled, ttlSeconds > 0 else { return }
        let (ttl, overflow) = Int64(ttlSeconds).multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return }
        refreshAhead.note(full, remaining: ttl, ttl: ttl)
        staleCopies.keep(full, stored, lifetime: ttl)
    }

    /// Whether a hit on `key` finds its entry due for a refresh; true for one caller per due
    /// entry (a host that refreshes on its own, as the Python binding does).
    public func takeRefreshIfDue(_ key: UnsafeRawBufferPointer) -> Bool {
        guard refreshAhead.isEnabled, let full = try? fullKey(key) else { return false }
        return refreshAhead.takeIfDue(full)
    }

    /// Hands back a refresh `takeRefreshIfDue` gave the host but the host will not run.
    public func giveBackRefresh(_ key: UnsafeRawBufferPointer) {
        guard refreshAhead.isEnabled, let full = try? fullKey(key) else { return }
        refreshAhead.giveBack(full)
    }

    /// After a get_or_compute hit: queues a refresh when the entry is due.
    func scheduleRefreshIfDue(_ key: UnsafeRawBufferPointer, ttlSeconds: Int) {
        guard refreshAhead.isEnabled, let full = try? fullKey(key), refreshAhead.takeIfDue(full) else { return }
        let raw = Array(key)
        let queued = refreshAhead.enqueue(full) { [weak self] in
            guard let self else { return }
            defer { self.refreshAhead.finished(full) }
            self.refresh(full, key: raw, ttlSeconds: ttlSeconds)
        }
        if !queued { refreshAhead.giveBack(full) }  // a later hit tries again
    }

    /// One background refresh: one attempt at the fill lock (held elsewhere: another process
    /// fills or refreshes, so skip), then the refresher's value is stored. A failure is counted
    /// and the old value stays until its TTL.
    private func refresh(_ full: [UInt8], key: [UInt8], ttlSeconds: Int) {
        guard let refresher = refreshAhead.refresher else { return }
        var token: [UInt8]?
        var lockStore: (any CoherentL2Store)?
        if coherence.fillLock.enabled, let store = l2 as? any CoherentL2Store, let fresh = FillLock.newToken() {
            let won = FailOpen.absorb(stats, fallback: false) { () throws(CachekitError) -> Bool in
                try store.acquireLock(FillLock.lockKey(full), token: fresh, milliseconds: coherence.fillLock.holdMilliseconds)
            }
            guard won else { return }
            (token, lockStore) = (fresh, store)
        }
        defer {
            if let token, let lockStore {
                FailOpen.absorb(stats, fallback: ()) { () throws(CachekitError) in
                    _ = try lockStore.releaseLock(FillLock.lockKey(full), token: token)
                }
            }
        }
        do throws(CachekitError) {
            let value = try withBytes(key) { raw throws(CachekitError) in try refresher(raw) }
            try withBytes(value) { bytes throws(CachekitError) in
                let stored = try codec.encode(bytes, redisKey: full)
                try store(full, stored.bytes, value: bytes, ttlSeconds: ttlSeconds, fillsMiss: true)
            }
            CacheStats.bump(stats.refreshesAhead)
        } catch {
            CacheStats.bump(stats.refreshAheadFailures)
        }
    }
}
