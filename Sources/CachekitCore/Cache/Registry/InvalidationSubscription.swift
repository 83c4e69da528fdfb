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

/// A running subscription to cachekit-py's invalidation channel, as the cache holds it: it
/// hands events to the cache's L1 until stopped. CachekitRedis's listener is the real one.
public protocol InvalidationSubscription: AnyObject, Sendable {
    /// Stops delivering events and returns once no event is being applied any more.
    func stop()
    var counters: ListenerCounters { get }
}

/// Starts a subscription that hands each well-formed event to the given closure.
public typealias InvalidationSubscriber =
    (@escaping @Sendable (InvalidationEvent) -> Void) throws(CachekitError) -> any InvalidationSubscription
