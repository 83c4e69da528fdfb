import CachekitCore

/// The Redis client's series and health (the same counters as cachekit_redis_stats), for the
/// cache's exposition: breaker transitions and sheds, the pool and its waits, backpressure,
/// refused replies, stopped sweeps and Sentinel discovery. No label carries an address or a
/// credential; the health report names the node by its redacted URL.
extension RedisL2: ObservableTier {
    public var breakerStateName: String? {
        guard let breaker = client.snapshot.breaker else { return nil }
        switch breaker.state {
        case .closed: return "CLOSED"
        case .open: return "OPEN"
        case .halfOpen: return "HALF_OPEN"
        }
    }

    public func writeMetrics(_ text: inout PrometheusText, labels cacheLabels: PrometheusText.Labels) {
        // The client's series (shared by every cache of the same settings) carry its number.
        let labels = cacheLabels + [("client", String(clientLease.clientID))]
        let snapshot = client.snapshot
        if let breaker = snapshot.breaker {
            text.family("cachekit_redis_breaker_transitions_total", .counter, "Circuit breaker transitions, by the state entered")
            text.sample("cachekit_redis_breaker_transitions_total", labels + [("state", "OPEN")], breaker.opened)
            text.sample("cachekit_redis_breaker_transitions_total", labels + [("state", "HALF_OPEN")], breaker.halfOpened)
            text.sample("cachekit_redis_breaker_transitions_total", labels + [("state", "CLOSED")], breaker.closed)
            text.single("cachekit_redis_breaker_rejected_total", .counter,
                        "Calls the breaker shed while open or with its probes spent", labels, breaker.rejected)
            text.single("cachekit_redis_breaker_failures_total", .counter, "Failures the breaker counted", labels, breaker.failures)
        }
        let pool = snapshot.pool
        text.single("cachekit_redis_pool_size", .gauge, "Connections the pool may open", labels, client.settings.poolSize)
        text.single("cachekit_redis_pool_in_use", .gauge, "Connections handed out now", labels, pool.inUse)
        text.single("cachekit_redis_pool_idle", .gauge, "Connections open and free now", labels, pool.idle)
        text.single("cachekit_redis_pool_peak_in_use", .gauge, "The most connections ever handed out at once", labels, pool.peakInUse)
        text.single("cachekit_redis_pool_waits_total", .counter, "Calls that found every connection busy and waited", labels, pool.waits)
        text.family("cachekit_redis_pool_wait_seconds_total", .counter, "Time spent waiting for a connection")
        text.sample("cachekit_redis_pool_wait_seconds_total", labels, Double(max(pool.waitNanoseconds, 0)) / 1e9)
        text.single("cachekit_redis_pool_timeouts_total", .counter, "Pool waits that ran out", labels, pool.timeouts)
        text.family("cachekit_redis_connections_total", .counter, "Connections by what happened to them")
        text.sample("cachekit_redis_connections_total", labels + [("event", "opened")], pool.opened)
        text.sample("cachekit_redis_connections_total", labels + [("event", "closed")], pool.closed)
        text.sample("cachekit_redis_connections_total", labels + [("event", "abandoned")], pool.abandoned)
        if let backpressure = snapshot.backpressure {
            text.single("cachekit_redis_backpressure_in_flight", .gauge, "Redis operations running now", labels, backpressure.inFlight)
            text.single("cachekit_redis_backpressure_queued", .gauge, "Operations waiting for a permit now", labels, backpressure.queueDepth)
            text.family("cachekit_redis_backpressure_shed_total", .counter, "Operations refused by backpressure, by reason")
            text.sample("cachekit_redis_backpressure_shed_total", labels + [("reason", "queue_full")], backpressure.shedQueueFull)
            text.sample("cachekit_redis_backpressure_shed_total", labels + [("reason", "timeout")], backpressure.shedTimeout)
        }
        let counters = counterSnapshot  // this cache's own
        text.single("cachekit_redis_replies_refused_total", .counter, "Replies over their command's size limit", cacheLabels, counters.repliesRefused)
        text.single("cachekit_redis_sweeps_incomplete_total", .counter, "Sweeps and drains stopped at a bound", cacheLabels, counters.sweepsIncomplete)
        if let sentinel = client.sentinel?.snapshot {
            text.single("cachekit_redis_sentinel_discoveries_total", .counter, "Sentinel master discoveries run", labels, sentinel.discoveries)
            text.single("cachekit_redis_sentinel_master_changes_total", .counter, "Discoveries that found a new master", labels, sentinel.masterChanges)
        }
    }

    public func healthComponents() -> [(String, JSONValue)] {
        let snapshot = client.snapshot
        var components: [(String, JSONValue)] = []
        if let breaker = snapshot.breaker, let limits = client.settings.breaker {
            components.append(("circuit_breaker", .object([
                ("state", .string((breakerStateName ?? "CLOSED").lowercased())),
                ("failure_count", .number(breaker.failuresInWindow)),
                ("success_count", .number(breaker.successes)),
                ("half_open_permits", .number(breaker.halfOpenPermits)),
                ("last_failure_age_ms", breaker.lastFailureAgeMilliseconds.map { .number(Int($0)) } ?? .null),
                ("opened", .number(breaker.opened)), ("rejected", .number(breaker.rejected)),
                ("config", .object([
                    ("failure_threshold", .number(limits.failureThreshold)),
                    ("success_threshold", .number(limits.successThreshold)),
                    ("timeout_ms", .number(limits.recoveryTimeoutMilliseconds)),
                    ("half_open_requests", .number(limits.halfOpenRequests)),
                ])),
            ])))
        } else {
            components.append(("circuit_breaker", .null))
        }
        if let backpressure = snapshot.backpressure, let limits = client.settings.backpressure {
            // cachekit-py's BackpressureController.get_stats() fields ("load_control" there).
            components.append(("backpressure", .object([
                ("max_concurrent", .number(limits.maxConcurrentRequests)), ("queue_size", .number(limits.queueSize)),
                ("in_flight", .number(backpressure.inFlight)), ("queue_depth", .number(backpressure.queueDepth)),
                ("rejected_count", .number(backpressure.rejected)),
            ])))
        }
        components.append(("pool", .object([
            ("size", .number(client.settings.poolSize)), ("in_use", .number(snapshot.pool.inUse)),
            ("idle", .number(snapshot.pool.idle)), ("waits", .number(snapshot.pool.waits)),
            ("timeouts", .number(snapshot.pool.timeouts)),
            ("backpressure_in_flight", .number(snapshot.backpressure?.inFlight ?? 0)),
            ("backpressure_queued", .number(snapshot.backpressure?.queueDepth ?? 0)),
        ])))
        var node: [(String, JSONValue)] = [("url", .string(client.url.redactedDescription))]
        if let master = client.sentinel?.snapshot.master { node.append(("master", .string(master.description))) }
        components.append(("nodes", .array([.object(node)])))
        return components
    }
}
