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

    public init() {}
}

/// A cache's membership in the process's subscriber, as the cache holds it: it hands events to
/// the cache's L1 until stopped. CachekitRedis's shared listener is the real one.
public protocol InvalidationSubscription: AnyObject, Sendable {
    /// Stops delivering events and returns once no event is being applied any more.
    func stop()
    var counters: ListenerCounters { get }
}

/// What a cache asks of the subscriber: cachekit-py's events (invalidation_listener), Redis's
/// key-change reports for its L1 (l1_tracking), or both.
public struct SubscriptionRequest: Sendable {
    public let events: (@Sendable (InvalidationEvent) -> Void)?
    public let coherence: L1Coherence?

    public init(events: (@Sendable (InvalidationEvent) -> Void)?, coherence: L1Coherence?) {
        self.events = events
        self.coherence = coherence
    }
}

/// Joins the subscriber with the given request.
public typealias InvalidationSubscriber = (SubscriptionRequest) throws(CachekitError) -> any InvalidationSubscription
