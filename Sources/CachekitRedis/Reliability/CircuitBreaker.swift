import CachekitCore
import Synchronization

/// cachekit-py's circuit breaker (`reliability/circuit_breaker.py`, 0.24.1), with its option names
/// and defaults.
///
/// CLOSED opens when `failureThreshold` failures fall within the rolling `failureWindow`
/// (successes do not reset the count). OPEN rejects every call until `recoveryTimeout` has passed
/// since the last counted failure, then HALF_OPEN admits `halfOpenRequests` probes per cycle;
/// `successThreshold` successes of the cycle's own probes close it, any failure of one reopens
/// it. A cycle whose probes are all spent and that neither closed nor reopened within
/// `recoveryTimeout` starts over (a probe that never reports cannot wedge it). Outcomes carry the
/// cycle that admitted the call, so a late report from an earlier cycle, or from a call admitted
/// while CLOSED, changes nothing. A failure reported while OPEN is ignored (it would push the
/// reopening back under steady traffic). Thread-safe.
///
/// The hot path is lock-free: while CLOSED, `admit` is one atomic load and a success one atomic
/// add; only failures and the OPEN/HALF_OPEN states take the lock.
public final class CircuitBreaker: Sendable {
    public struct Settings: Sendable, Equatable {
        /// `failure_threshold`: failures within the window that open the circuit (at most
        /// 10 000). cachekit-py: 5.
        public var failureThreshold = 5
        /// `success_threshold`: successful probes of one HALF_OPEN cycle that close it. cachekit-py: 3.
        public var successThreshold = 3
        /// `recovery_timeout` (cachekit-py's @cache name; the breaker's `timeout_seconds`): how
        /// long OPEN lasts before probing, and how long a spent HALF_OPEN cycle lasts. cachekit-py: 30 s.
        public var recoveryTimeoutMilliseconds = 30_000
        /// `half_open_requests`: probe slots per HALF_OPEN cycle, at least `successThreshold`. cachekit-py: 3.
        public var halfOpenRequests = 3
        /// The rolling window failures are counted over. A constant in cachekit-py: 60 s.
        public var failureWindowMilliseconds = 60_000

        public init() {}

        /// cachekit-py's `CircuitBreakerConfig.validate()` rules, plus a positive window.
        public func validate() throws(CacheKitError) {
            // The breaker keeps one timestamp per failure it counts: the cap bounds that memory.
            guard (1...10_000).contains(failureThreshold) else { throw CacheKitError(.invalidConfig, "failure_threshold must be 1 to 10000") }
            guard successThreshold >= 1 else { throw CacheKitError(.invalidConfig, "success_threshold must be >= 1") }
            guard halfOpenRequests >= 1 else { throw CacheKitError(.invalidConfig, "half_open_requests must be >= 1") }
            guard halfOpenRequests >= successThreshold else {
                throw CacheKitError(.invalidConfig,
                                    "half_open_requests (\(halfOpenRequests)) must be >= success_threshold (\(successThreshold)): a half-open cycle could never close")
            }
            guard recoveryTimeoutMilliseconds >= 1 else { throw CacheKitError(.invalidConfig, "recovery_timeout_ms must be >= 1") }
            guard failureWindowMilliseconds >= 1 else { throw CacheKitError(.invalidConfig, "failure_window_ms must be >= 1") }
        }
    }

    public enum State: UInt64, Sendable {
        case closed = 0, open = 1, halfOpen = 2
    }

    /// What `admit` hands out: the HALF_OPEN cycle current when the call was admitted. Pass it
    /// back with the call's outcome.
    public struct Admission: Sendable, Equatable {
        public let cycle: UInt64
    }

    public struct Snapshot: Sendable, Equatable {
        public var state: State = .closed
        /// Transitions into each state.
        public var opened = 0
        public var halfOpened = 0
        public var closed = 0
        /// Calls refused while OPEN or with the HALF_OPEN probes spent.
        public var rejected = 0
        /// Failures counted (reported while CLOSED or by a probe of the current cycle).
        public var failures = 0
        /// Successes reported, in any state.
        public var successes = 0
        /// Failures inside the rolling window now.
        public var failuresInWindow = 0
        /// How long ago the last counted failure was (nil: none yet), for cachekit-py's last_failure_time.
        public var lastFailureAgeMilliseconds: Int64?
        /// HALF_OPEN probes admitted in the current cycle (0 outside HALF_OPEN): cachekit-py's half_open_permits.
        public var halfOpenPermits = 0
    }

    public let settings: Settings
    private let clock: @Sendable () -> Int64
    /// The state in the low 2 bits and the latest HALF_OPEN cycle above them, so a CLOSED admit
    /// reads both in one load. Written only under `lock`.
    private let packed = Atomic<UInt64>(0)
    private let successes = Atomic<Int>(0)
    private let lock: Locked<Machine>

    private struct Machine {
        /// The times of the last `failureThreshold` counted failures, oldest at `next` once full.
        var failureTimes: [Int64]
        var next = 0
        var lastFailure: Int64 = 0
        var probeSuccesses = 0
        var probesAdmitted = 0
        var halfOpenSince: Int64 = 0
        var snapshot = Snapshot()

        mutating func noteFailure(at now: Int64) {
            failureTimes[next] = now
            next = (next &+ 1) % failureTimes.count
            lastFailure = now
            snapshot.failures &+= 1
        }

        func failuresInWindow(now: Int64, window: Int64) -> Int {
            failureTimes.reduce(0) { $0 &+ ($1 != Int64.min && now &- $1 <= window ? 1 : 0) }
        }
    }

    /// `clock` is monotonic nanoseconds (tests pass their own).
    public init(settings: Settings = Settings(),
                clock: @escaping @Sendable () -> Int64 = { MonotonicClock.preciseNanoseconds() }) throws(CacheKitError) {
        try settings.validate()
        self.settings = settings
        self.clock = clock
        lock = Locked(Machine(failureTimes: Array(repeating: Int64.min, count: settings.failureThreshold)))
    }

    private var recoveryNanoseconds: Int64 { Int64(settings.recoveryTimeoutMilliseconds) &* 1_000_000 }
    private var windowNanoseconds: Int64 { Int64(settings.failureWindowMilliseconds) &* 1_000_000 }

    public var state: State { State(rawValue: packed.load(ordering: .relaxed) & 3) ?? .closed }

    /// Admits the call (nil: it must not reach Redis and is counted as rejected). Moves OPEN to
    /// HALF_OPEN once the recovery timeout has passed; in HALF_OPEN each admission spends a probe.
    public func admit() -> Admission? {
        let word = packed.load(ordering: .acquiring)
        if word & 3 == State.closed.rawValue { return Admission(cycle: word >> 2) }
        return lock.withLock { machine -> Admission? in
            let now = clock()
            var word = packed.load(ordering: .relaxed)
            switch State(rawValue: word & 3) ?? .closed {
            case .closed:
                return Admission(cycle: word >> 2)
            case .open:
                guard now &- machine.lastFailure > recoveryNanoseconds else {
                    machine.snapshot.rejected &+= 1
                    return nil
                }
                word = enterHalfOpen(&machine, now: now, word: word)
            case .halfOpen:
                if machine.probesAdmitted >= settings.halfOpenRequests, now &- machine.halfOpenSince > recoveryNanoseconds {
                    word = enterHalfOpen(&machine, now: now, word: word)
                }
            }
            guard machine.probesAdmitted < settings.halfOpenRequests else {
                machine.snapshot.rejected &+= 1
                return nil
            }
            machine.probesAdmitted &+= 1
            return Admission(cycle: word >> 2)
        }
    }

    public func recordSuccess(_ admission: Admission) {
        successes.add(1, ordering: .relaxed)
        if packed.load(ordering: .acquiring) & 3 != State.halfOpen.rawValue { return }
        lock.withLock { machine in
            let word = packed.load(ordering: .relaxed)
            guard word & 3 == State.halfOpen.rawValue, word >> 2 == admission.cycle else { return }
            machine.probeSuccesses &+= 1
            if machine.probeSuccesses >= settings.successThreshold { enterClosed(&machine, word: word) }
        }
    }

    /// A failure that says the backend is unhealthy (see `CircuitBreaker.counts(_:)`).
    public func recordFailure(_ admission: Admission) {
        lock.withLock { machine in
            let now = clock()
            let word = packed.load(ordering: .relaxed)
            switch State(rawValue: word & 3) ?? .closed {
            case .open:
                return
            case .halfOpen:
                guard word >> 2 == admission.cycle else { return }
                machine.noteFailure(at: now)
                enterOpen(&machine, word: word)
            case .closed:
                machine.noteFailure(at: now)
                // The ring holds the last `failureThreshold` failures: they all fall within the
                // window exactly when the oldest does.
                let oldest = machine.failureTimes[machine.next]
                if oldest != Int64.min, now &- oldest <= windowNanoseconds { enterOpen(&machine, word: word) }
            }
        }
    }

    /// Gives back the probe slot of an admitted call that ended with no outcome (it never reached
    /// Redis, or failed in a way that says nothing about Redis's health).
    public func releaseProbe(_ admission: Admission) {
        if packed.load(ordering: .acquiring) & 3 != State.halfOpen.rawValue { return }
        lock.withLock { machine in
            let word = packed.load(ordering: .relaxed)
            guard word & 3 == State.halfOpen.rawValue, word >> 2 == admission.cycle else { return }
            machine.probesAdmitted = max(0, machine.probesAdmitted &- 1)
        }
    }

    /// Records the outcome of an admitted call: a success, a counted failure, or neither.
    public func record(_ admission: Admission, error: CacheKitError?) {
        guard let error else { return recordSuccess(admission) }
        if Self.counts(error) { recordFailure(admission) } else { releaseProbe(admission) }
    }

    public var snapshot: Snapshot {
        lock.withLock { machine in
            var snapshot = machine.snapshot
            snapshot.state = State(rawValue: packed.load(ordering: .relaxed) & 3) ?? .closed
            snapshot.successes = successes.load(ordering: .relaxed)
            let now = clock()
            snapshot.failuresInWindow = machine.failuresInWindow(now: now, window: windowNanoseconds)
            if snapshot.failures > 0 { snapshot.lastFailureAgeMilliseconds = max(0, now &- machine.lastFailure) / 1_000_000 }
            snapshot.halfOpenPermits = snapshot.state == .halfOpen ? machine.probesAdmitted : 0
            return snapshot
        }
    }

    // MARK: Transitions (under the lock)

    private func enterHalfOpen(_ machine: inout Machine, now: Int64, word: UInt64) -> UInt64 {
        machine.probeSuccesses = 0
        machine.probesAdmitted = 0
        machine.halfOpenSince = now
        machine.snapshot.halfOpened &+= 1
        let next = (((word >> 2) &+ 1) << 2) | State.halfOpen.rawValue
        packed.store(next, ordering: .releasing)
        return next
    }

    private func enterOpen(_ machine: inout Machine, word: UInt64) {
        machine.probeSuccesses = 0
        machine.snapshot.opened &+= 1
        packed.store((word & ~3) | State.open.rawValue, ordering: .releasing)
    }

    private func enterClosed(_ machine: inout Machine, word: UInt64) {
        for i in machine.failureTimes.indices { machine.failureTimes[i] = Int64.min }
        machine.next = 0
        machine.probeSuccesses = 0
        machine.probesAdmitted = 0
        machine.snapshot.closed &+= 1
        packed.store((word & ~3) | State.closed.rawValue, ordering: .releasing)
    }
}
