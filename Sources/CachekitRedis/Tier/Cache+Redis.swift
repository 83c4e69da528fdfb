import CachekitCore

extension Cache {
    /// A cache as the configuration describes it: on its redis_url (TLS, unix socket, Sentinel)
    /// through `RedisL2`, in the process's shared listener for that server when the invalidation
    /// listener or l1_tracking is on, or on L1 alone without a URL. Nothing is connected here:
    /// Redis is contacted on first use (the listener connects in the background).
    public static func open(config: CacheConfig, codec: (any EntryCodec)? = nil) throws(CachekitError) -> Cache {
        guard let url = try config.effectiveRedisURL() else { return try Cache(config: config, codec: codec) }
        var tier: RedisL2?
        let cache = try Cache(config: config, codec: codec, makeL2: { stats throws(CachekitError) in
            let made = try RedisL2(config: config, url: url, stats: stats)
            tier = made
            return made
        }, subscribe: { request throws(CachekitError) in
            guard let tier else { throw CachekitError(.internal, "the listener needs the Redis tier") }
            let membership = try SubscriberRegistry.join(client: tier.client, request)
            let listener = membership.listener
            tier.whenForked { listener.restartIfForked() }
            return membership
        })
        return cache
    }
}
