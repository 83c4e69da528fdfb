import CachekitCore

/// The process's Redis clients, one per identical Redis settings: caches whose URL (address or
/// Sentinel service or Cluster seeds, user, password, database, TLS files and checks, URL
/// timeouts, read_from_replicas) and client settings (timeouts, pool size and wait, breaker,
/// backpressure) are all the same share one `RedisClient` (on Cluster one `ClusterClient`), so
/// its pool, breaker, backpressure and health, as cachekit-py shares one client per process.
/// A cache differing in any of them gets its own. The last cache to let go closes the client.
///
/// After fork() a child keeps the entries (its inherited caches still hold them): each pool
/// abandons its inherited connections on the child's first call and opens fresh ones, so a
/// cache the child opens on a shared client never uses the parent's sockets. Thread-safe.
enum RedisClientRegistry {
    /// What a client is made from; two caches share one only when every part matches.
    struct Identity {
        let url: RedisURL
        let settings: RedisClient.Settings

        func matches(_ other: Identity) -> Bool {
            guard settings == other.settings, url.target == other.url.target, url.username == other.url.username,
                  url.database == other.url.database, url.tls == other.url.tls,
                  url.socketTimeoutMilliseconds == other.url.socketTimeoutMilliseconds,
                  url.socketConnectTimeoutMilliseconds == other.url.socketConnectTimeoutMilliseconds,
                  url.readFromReplicas == other.url.readFromReplicas else { return false }
            switch (url.password, other.url.password) {
            case (nil, nil): return true
            case (let mine?, let theirs?): return mine.isEqual(to: theirs)
            default: return false
            }
        }
    }

    /// One shared client and how many leases hold it (counted under the registry's lock).
    private struct Entry {
        let identity: Identity
        let client: SharedRedisClient
        var leases: Int
    }

    // A Monitor rather than a Locked for `reinitializeAfterFork`: a parent thread may have held
    // the lock at fork().
    private static let entries = Monitor<[Entry]>([])
    private static let owner = ProcessOwner()

    /// The shared client for these settings, made when there is none. Nothing is connected here.
    static func lease(url: RedisURL, settings: RedisClient.Settings) throws(CachekitError) -> RedisClientLease {
        let identity = Identity(url: url, settings: settings)
        let client = try liveEntries().withLock { (all: inout [Entry]) throws(CachekitError) -> SharedRedisClient in
            if let index = all.firstIndex(where: { $0.identity.matches(identity) }) {
                all[index].leases &+= 1
                return all[index].client
            }
            let made = try SharedRedisClient(url: url, settings: settings)
            all.append(Entry(identity: identity, client: made, leases: 1))
            return made
        }
        return RedisClientLease(client, registered: true)
    }

    /// How many caches hold the client these settings name (0: none is open): for tests.
    static func leaseCount(url: RedisURL, settings: RedisClient.Settings) -> Int {
        let identity = Identity(url: url, settings: settings)
        return liveEntries().withLock { all in all.first(where: { $0.identity.matches(identity) })?.leases ?? 0 }
    }

    /// Lets go of one lease; the last one closes the client, after the lock, so closing
    /// connections never holds up other caches. A client the registry lost at fork() (its lock
    /// was held then) is left to its pool, which abandons the inherited connections.
    fileprivate static func release(_ client: SharedRedisClient) {
        let last = liveEntries().withLock { (all: inout [Entry]) -> Bool in
            guard let index = all.firstIndex(where: { $0.client === client }) else { return false }
            all[index].leases &-= 1
            guard all[index].leases <= 0 else { return false }
            all.remove(at: index)
            return true
        }
        if last { client.close() }
    }

    /// The entries, made usable again in a child after fork().
    private static func liveEntries() -> Monitor<[Entry]> {
        owner.resetIfForked {
            var kept: [Entry] = []
            entries.reinitializeAfterFork(fresh: [], salvage: { kept = $0 })
            entries.withLock { $0 = kept }
        }
        return entries
    }
}

/// A Redis client as the registry keeps it: one server's (or Sentinel's), or a cluster's with
/// its client for "any node".
final class SharedRedisClient: Sendable {
    let client: RedisClient
    let cluster: ClusterClient?
    /// Unique in the process: the `client` label of the client's series, so a scraper summing
    /// several caches' expositions counts a shared client once.
    let id: Int

    private static let lastID = Locked(0)

    init(url: RedisURL, settings: RedisClient.Settings) throws(CachekitError) {
        id = Self.lastID.withLock { (last: inout Int) -> Int in
            last &+= 1
            return last
        }
        if case .cluster = url.target {
            let cluster = try ClusterClient(url: url, settings: settings)
            self.cluster = cluster
            client = cluster.anyNode
        } else {
            cluster = nil
            client = try RedisClient(url: url, settings: settings)
        }
    }

    func close() {
        client.close()
        cluster?.close()
    }
}

/// One cache's hold on a Redis client: shared through the registry, or its own when the cache
/// opted out (`redis_client_shared=0`). Released (and the client closed when it was the last
/// holder) when the cache's Redis tier goes.
public final class RedisClientLease: Sendable {
    public var client: RedisClient { shared.client }
    public var cluster: ClusterClient? { shared.cluster }
    /// The client's number in this process (the `client` label of its series).
    public var clientID: Int { shared.id }
    /// Whether other caches may hold this client too.
    public let registered: Bool
    private let shared: SharedRedisClient

    fileprivate init(_ shared: SharedRedisClient, registered: Bool) {
        self.shared = shared
        self.registered = registered
    }

    /// A client of the cache's own, outside the registry.
    static func unshared(url: RedisURL, settings: RedisClient.Settings) throws(CachekitError) -> RedisClientLease {
        RedisClientLease(try SharedRedisClient(url: url, settings: settings), registered: false)
    }

    deinit {
        if registered { RedisClientRegistry.release(shared) } else { shared.close() }
    }
}
