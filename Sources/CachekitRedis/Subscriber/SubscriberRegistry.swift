import CachekitCore

/// The process's listeners, one per Redis endpoint and credentials: every cache on the same
/// server (same address or Sentinel service, user, password and TLS settings; the database does
/// not matter, as neither pub/sub nor tracking reports are per database) joins the same one, so
/// a host with many caches holds one subscriber connection. A listener stops when its last
/// member leaves. Thread-safe.
enum SubscriberRegistry {
    /// What makes two URLs the same server for the subscriber.
    struct Endpoint {
        let target: RedisURL.Target
        let username: String?
        let password: SecretBytes?
        let tls: TLSSettings?

        init(_ url: RedisURL) {
            target = url.target
            username = url.username
            password = url.password
            tls = url.tls
        }

        func matches(_ other: Endpoint) -> Bool {
            guard target == other.target, username == other.username, tls == other.tls else { return false }
            switch (password, other.password) {
            case (nil, nil): return true
            case (let mine?, let theirs?): return mine.isEqual(to: theirs)
            default: return false
            }
        }
    }

    private static let listeners = Locked<[(endpoint: Endpoint, listener: InvalidationListener)]>([])

    /// How long a new cache waits for Redis to confirm tracking of its prefix (see `awaitTracking`).
    static let joinWaitMilliseconds = 1000  // one round trip when healthy; long enough for a loaded host

    /// Joins the listener for `client`'s endpoint, starting one (on `client`) when there is none.
    static func join(client: RedisClient, _ request: SubscriptionRequest) throws(CachekitError) -> Membership {
        let membership = try enter(client: client, request)
        membership.listener.awaitTracking(membership.id, milliseconds: joinWaitMilliseconds)
        return membership
    }

    private static func enter(client: RedisClient, _ request: SubscriptionRequest) throws(CachekitError) -> Membership {
        let endpoint = Endpoint(client.url)
        return try listeners.withLock { (all: inout [(endpoint: Endpoint, listener: InvalidationListener)]) throws(CachekitError) -> Membership in
            if let existing = all.first(where: { $0.endpoint.matches(endpoint) })?.listener {
                return Membership(listener: existing, id: existing.join(request))
            }
            let listener = InvalidationListener(client: client)
            let id = listener.join(request)
            try listener.start()
            all.append((endpoint, listener))
            return Membership(listener: listener, id: id)
        }
    }

    /// Removes a member; the last one out stops its listener (after the registry lock, so a
    /// stopping thread never holds up other caches).
    fileprivate static func leave(_ listener: InvalidationListener, id: Int) {
        let last = listeners.withLock { all -> Bool in
            guard listener.leave(id) == 0 else { return false }
            all.removeAll { $0.listener === listener }
            return true
        }
        if last { listener.stop() }
    }
}

/// One cache's place in a shared listener, as the cache holds it.
final class Membership: InvalidationSubscription, @unchecked Sendable {  // `left` is under the lock
    let listener: InvalidationListener
    let id: Int
    private let left = Locked(false)

    init(listener: InvalidationListener, id: Int) {
        self.listener = listener
        self.id = id
    }

    func stop() {
        guard left.withLock({ (done: inout Bool) -> Bool in defer { done = true }; return !done }) else { return }
        SubscriberRegistry.leave(listener, id: id)
    }

    var counters: ListenerCounters { listener.counters(for: id) }

    deinit { stop() }
}
