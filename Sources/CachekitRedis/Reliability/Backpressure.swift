import CachekitCore

/// cachekit-py's load control (`reliability/load_control.py` BackpressureController, 0.24.1, and
/// its `BackpressureConfig` names and defaults): at most `maxConcurrentRequests` Redis operations
/// in flight; up to `queueSize` more wait, each at most `timeout`, for a permit. A call that finds
/// the queue full, or whose wait runs out, is shed with `.backendOverloaded` and counted. Like
/// cachekit-py's semaphore, waiters are not served in arrival order. Thread-safe.
public final class Backpressure: Sendable {
    public struct Settings: Sendable, Equatable {
        /// `max_concurrent_requests`: operations in flight at once. cachekit-py: 100.
        public var maxConcurrentRequests = 100
        /// `queue_size`: callers that may wait for a permit. cachekit-py: 1000.
        public var queueSize = 1000
        /// `timeout`: the longest one caller waits. cachekit-py: 0.1 s.
        public var timeoutMilliseconds = 100

        public init() {}

        public func validate() throws(CacheKitError) {
            guard maxConcurrentRequests >= 1 else { throw CacheKitError(.invalidConfig, "max_concurrent_requests must be >= 1") }
            guard queueSize >= 0 else { throw CacheKitError(.invalidConfig, "queue_size must be >= 0") }
            guard timeoutMilliseconds >= 0 else { throw CacheKitError(.invalidConfig, "backpressure_timeout_ms must be >= 0") }
        }
    }

    public struct Snapshot: Sendable, Equatable {
        public var inFlight = 0
        /// Callers waiting for a permit now (cachekit-py's `queue_depth`).
        public var queueDepth = 0
        /// Calls that waited for a permit and got one or were shed.
        public var waits = 0
        /// Shed because `queueSize` callers were already waiting.
        public var shedQueueFull = 0
        /// Shed because no permit came free within the timeout.
        public var shedTimeout = 0
        /// cachekit-py's `rejected_count`: both kinds of shed.
        public var rejected: Int { shedQueueFull &+ shedTimeout }
    }

    public let settings: Settings
    private let state = Monitor(Snapshot())
    /// In a child after fork(), the permits the parent's threads held are not coming back:
    /// the child starts with none in flight (the shed counters carry over).
    private let owner = ProcessOwner()

    public init(settings: Settings = Settings()) throws(CacheKitError) {
        try settings.validate()
        self.settings = settings
    }

    /// Takes a permit, waiting up to the timeout; give it back with `release()`.
    public func acquire() throws(CacheKitError) {
        owner.resetIfForked {
            var carried = Snapshot()
            state.reinitializeAfterFork(fresh: Snapshot(), salvage: { carried = $0 })
            state.withLock { $0.shedQueueFull = carried.shedQueueFull; $0.shedTimeout = carried.shedTimeout; $0.waits = carried.waits }
        }
        let limit = settings.maxConcurrentRequests
        let admitted = state.withLock { state -> Bool? in
            if state.inFlight < limit { state.inFlight &+= 1; return true }
            if state.queueDepth >= settings.queueSize { state.shedQueueFull &+= 1; return false }
            state.queueDepth &+= 1
            state.waits &+= 1
            return nil
        }
        switch admitted {
        case true?: return
        case false?:
            throw CacheKitError(.backendOverloaded,
                                "Redis operation shed: \(limit) in flight and \(settings.queueSize) already waiting")
        case nil:
            try state.wait(until: Deadline.after(milliseconds: settings.timeoutMilliseconds), { (state: inout Snapshot) throws(CacheKitError) -> Void? in
                guard state.inFlight < limit else { return nil }
                state.inFlight &+= 1
                state.queueDepth &-= 1
                return ()
            }, timedOut: { (state: inout Snapshot) throws(CacheKitError) -> Void in
                state.queueDepth &-= 1
                state.shedTimeout &+= 1
                throw CacheKitError(.backendOverloaded,
                                    "Redis operation shed: no permit came free within \(settings.timeoutMilliseconds) ms (\(limit) in flight)")
            })
        }
    }

    public func release() {
        state.withLock { $0.inFlight = max(0, $0.inFlight &- 1) }
        state.signal()
    }

    /// Runs `body` holding a permit.
    public func withPermit<Result>(_ body: () throws(CacheKitError) -> Result) throws(CacheKitError) -> Result {
        try acquire()
        defer { release() }
        return try body()
    }

    public var snapshot: Snapshot { state.withLock { $0 } }
}
