/// The cache's exposition (Prometheus text 0.0.4), its log events and its health report.
/// Series names, types, labels and bucket bounds follow cachekit-py 0.24.1 where it has them
/// (reliability/async_metrics.py); libcachekit's own are under `cachekit_`. docs/observability.md
/// lists them all.
extension Cache {
    typealias Counter = (name: String, help: String, value: @Sendable (CacheStats.Snapshot) -> Int)

    /// libcachekit's counters read from the stats snapshot: one line per series.
    static let snapshotCounters: [Counter] = [
        ("cachekit_cache_misses_total", "Gets answered by neither tier", { $0.misses }),
        ("cachekit_cache_sets_total", "Entries stored (sets and get_or_compute fills)", { $0.sets }),
        ("cachekit_cache_deletes_total", "Keys invalidated", { $0.deletes }),
        ("cachekit_cache_fail_open_total", "Cache operations that met a Redis failure (reads and writes fail open)", { $0.errors }),
        ("cachekit_l2_errors_total", "Failed Redis round trips", { $0.l2Errors }),
        ("cachekit_l2_skipped_total", "Redis calls skipped by the open circuit breaker", { $0.l2Skipped }),
        ("cachekit_computes_total", "get_or_compute callbacks run", { $0.computes }),
        ("cachekit_coalesced_total", "get_or_compute callers served by another caller's compute", { $0.coalesced }),
        ("cachekit_single_flight_timeouts_total", "get_or_compute waiters that stopped waiting and computed themselves", { $0.singleFlightTimeouts }),
        ("cachekit_decode_errors_total", "Entries that did not decode (corrupt ones were removed)", { $0.decodeErrors }),
        ("cachekit_foreign_entries_total", "Entries left in Redis for other readers (another mode or key)", { $0.foreignEntries }),
        ("cachekit_fill_lock_waits_total", "get_or_compute misses that found the fill lock held and waited", { $0.fillLockWaits }),
        ("cachekit_fill_lock_reads_total", "Fill-lock waits that ended reading the holder's value", { $0.fillLockReads }),
        ("cachekit_fill_lock_timeouts_total", "Fill-lock waits that ran out (the caller computed without the lock)", { $0.fillLockTimeouts }),
        ("cachekit_fill_lock_expired_total", "Fills whose lock expired before they released it", { $0.fillLockExpired }),
        ("cachekit_ttl_refreshes_total", "Sliding-TTL EXPIREs sent on Redis hits (refresh_ttl_on_get)", { $0.ttlRefreshes }),
        ("cachekit_stale_served_total", "Expired values served because the compute failed (stale_if_error)", { $0.staleServed }),
        ("cachekit_refreshes_ahead_total", "Background refreshes run (refresh_ahead)", { $0.refreshesAhead }),
        ("cachekit_refresh_ahead_failures_total", "Background refreshes that failed (the old value stays)", { $0.refreshAheadFailures }),
    ]

    /// The cache's whole exposition.
    public func metricsText() -> String {
        let s = statsSnapshot()
        let ns: PrometheusText.Labels = [("namespace", metricsNamespace)]
        let metrics = stats.metrics
        var out = PrometheusText()

        // cachekit-py's series.
        let getFailures = metrics.failureCount(.get), setFailures = metrics.failureCount(.set)
        out.family("cache_operations_total", .counter, "Total cache operations")
        func operation(_ name: String, _ success: Bool, _ serializer: String, _ value: Int) {
            out.sample("cache_operations_total", [("operation", name), ("namespace", metricsNamespace),
                                                  ("success", success ? "True" : "False"), ("serializer", serializer)], value)
        }
        operation("get", true, "l1_memory", s.l1Hits)
        operation("get", true, "rust", s.l2Hits)
        operation("set", true, "rust", max(s.sets - setFailures, 0))
        operation("get", false, "unknown", getFailures)
        operation("set", false, "unknown", setFailures)
        for other in OperationMetrics.Operation.allCases where other != .get && other != .set {
            let failures = metrics.failureCount(other)
            if failures > 0 { operation(other.label, false, "unknown", failures) }
        }
        func labels(_ name: String, _ serializer: String) -> PrometheusText.Labels {
            [("operation", name), ("namespace", metricsNamespace), ("serializer", serializer)]
        }
        out.family("cache_operation_duration_ms", .histogram, "Cache operation duration")
        out.histogram("cache_operation_duration_ms", labels("get", "l1_memory"), metrics.l1GetDuration)
        out.histogram("cache_operation_duration_ms", labels("get", "rust"), metrics.l2GetDuration)
        out.histogram("cache_operation_duration_ms", labels("set", "rust"), metrics.setDuration)
        out.family("cache_operation_size_bytes", .histogram, "Cache operation size")
        out.histogram("cache_operation_size_bytes", labels("get", "l1_memory"), metrics.l1GetSize)
        out.histogram("cache_operation_size_bytes", labels("get", "rust"), metrics.l2GetSize)
        let tier = secondTier as? any ObservableTier
        if let state = tier?.breakerStateName {
            out.family("circuit_breaker_state", .gauge, "Number of live circuit breakers per namespace and state")
            for name in ["CLOSED", "OPEN", "HALF_OPEN"] {
                out.sample("circuit_breaker_state", ns + [("state", name)], name == state ? 1 : 0)
            }
        }

        // libcachekit's own.
        out.family("cachekit_cache_hits_total", .counter, "Gets answered, by tier")
        out.sample("cachekit_cache_hits_total", ns + [("tier", "l1")], s.l1Hits)
        out.sample("cachekit_cache_hits_total", ns + [("tier", "l2")], s.l2Hits)
        for counter in Self.snapshotCounters { out.single(counter.name, .counter, counter.help, ns, counter.value(s)) }
        out.single("cachekit_l1_entries", .gauge, "Entries in L1 now", ns, s.l1Entries)
        out.single("cachekit_l1_bytes", .gauge, "Bytes charged to L1 now (keys, values, per-entry overhead)", ns, s.l1Bytes)
        out.single("cachekit_l1_max_bytes", .gauge, "L1's byte budget", ns, l1.maxBytes)
        out.family("cachekit_l1_evictions_total", .counter, "L1 entries dropped, by cause")
        out.sample("cachekit_l1_evictions_total", ns + [("cause", "capacity")], s.evictions)
        out.sample("cachekit_l1_evictions_total", ns + [("cause", "expired")], l1.expirations)
        out.family("cachekit_l2_round_trip_seconds", .histogram, "Successful Redis round trips")
        out.histogram("cachekit_l2_round_trip_seconds", ns, metrics.l2RoundTrip)
        let listener = listenerCounters
        out.single("cachekit_listener_running", .gauge, "1 while the invalidation listener runs", ns, listener.running ? 1 : 0)
        out.single("cachekit_listener_subscribed", .gauge, "1 while Redis has confirmed the listener's subscription", ns, listener.subscribed ? 1 : 0)
        out.single("cachekit_listener_received_total", .counter, "Invalidation messages received", ns, listener.received)
        out.single("cachekit_listener_applied_total", .counter, "Invalidation events applied to L1", ns, listener.applied)
        out.single("cachekit_listener_dropped_total", .counter, "Invalidation messages dropped as malformed or oversized", ns, listener.dropped)
        out.single("cachekit_listener_resubscriptions_total", .counter, "Listener subscriptions after the first", ns, listener.resubscriptions)
        // cachekit-py's decrypt-failure series: its "auth_tamper" class is every failed
        // authentication (wrong key, tampered, a fingerprint the keyring lacks); the split by
        // cause is libcachekit's own.
        out.family("cachekit_decrypt_failures_total", .counter, "Entries that failed decryption, by failure class and tier")
        out.sample("cachekit_decrypt_failures_total", ns + [("reason", "auth_tamper"), ("tier", "l1")],
                   s.decryptWrongKeyL1 &+ s.decryptTamperedL1 &+ s.decryptUnknownFingerprintL1)
        out.sample("cachekit_decrypt_failures_total", ns + [("reason", "auth_tamper"), ("tier", "l2")],
                   s.decryptWrongKeyL2 &+ s.decryptTamperedL2 &+ s.decryptUnknownFingerprintL2)
        out.family("cachekit_decrypt_failure_causes_total", .counter, "Failed decryptions by cause and tier")
        for (cause, l1Count, l2Count) in [("wrong_key", s.decryptWrongKeyL1, s.decryptWrongKeyL2),
                                          ("tampered", s.decryptTamperedL1, s.decryptTamperedL2),
                                          ("unknown_fingerprint", s.decryptUnknownFingerprintL1, s.decryptUnknownFingerprintL2)] {
            out.sample("cachekit_decrypt_failure_causes_total", ns + [("cause", cause), ("tier", "l1")], l1Count)
            out.sample("cachekit_decrypt_failure_causes_total", ns + [("cause", cause), ("tier", "l2")], l2Count)
        }
        let tracking = trackingCounters
        out.single("cachekit_l1_tracking", .gauge, "1 while Redis confirms it tracks this cache's keys (l1_tracking)", ns, tracking.tracking ? 1 : 0)
        out.single("cachekit_l1_tracking_invalidations_total", .counter, "Keys Redis reported written or deleted", ns, tracking.invalidations)
        out.single("cachekit_l1_tracking_dropped_total", .counter, "L1 copies those reports removed", ns, tracking.dropped)
        out.single("cachekit_l1_tracking_fills_skipped_total", .counter, "Fills kept out of L1 because a report came while they were in flight", ns, tracking.fillsSkipped)
        out.single("cachekit_l1_tracking_gap_flushes_total", .counter, "Times all of L1 was dropped because tracking (re)started", ns, tracking.gapFlushes)
        tier?.writeMetrics(&out, labels: ns)
        return out.text
    }

    // MARK: Log events

    public var metricsNamespace: String { stats.metrics.namespace }

    /// Checks the level before touching anything else: with no handler this is one load, and
    /// the event's code stays out of line (inlined, it bloated the L1 hit path's stack frame).
    @inline(__always)
    func log(_ level: LogLevel, _ name: String, _ fields: @autoclosure () -> [(name: String, value: String)]) {
        guard LogHook.isEnabled(level) else { return }
        emitLog(level, name, fields)
    }

    @inline(never)
    private func emitLog(_ level: LogLevel, _ name: String, _ fields: () -> [(name: String, value: String)]) {
        stats.metrics.log(level, name, fields())
    }

    /// cachekit-py's redact_cache_key digest of the caller's key (blake2b, 8 bytes, hex), so one
    /// key correlates across both SDKs' logs without appearing in either.
    static func keyHash(_ key: UnsafeRawBufferPointer) -> String {
        (try? Blake2b.hex(key, digestSize: 8)) ?? "unknown"
    }

    /// The key hash of a prefixed key (the prefix is the cache's, not the caller's).
    func keyHash(full: UnsafeRawBufferPointer) -> String {
        Self.keyHash(UnsafeRawBufferPointer(rebasing: full.dropFirst(min(prefix.count, full.count))))
    }

    func keyHash(full: [UInt8]) -> String { full.withUnsafeBytes { keyHash(full: $0) } }

    static func milliseconds(since start: Int64) -> String {
        let elapsed = Double(MonotonicClock.preciseNanoseconds() &- start) / 1e6
        return "\((elapsed * 1000).rounded() / 1000)"
    }

    // MARK: Health, second version

    /// cachekit-py's check_health() shape ({status, namespace, components}) with each tier's
    /// state; PINGs Redis within the command timeout.
    public func healthReportJSON() -> String {
        let report = health()
        var components: [(String, JSONValue)] = [
            ("l1", .object([("enabled", .bool(l1.isEnabled)), ("entries", .number(report.l1Entries)),
                            ("bytes", .number(report.l1Bytes)), ("max_bytes", .number(l1.maxBytes))])),
        ]
        var healthy = true
        if report.l2Configured {
            healthy = report.l2Status == .ok
            var l2: [(String, JSONValue)] = [
                ("status", .string(report.l2Status == .ok ? "healthy" : "unhealthy")),
                ("ping_ms", report.l2Status == .ok ? .double(Double(report.l2PingNanoseconds) / 1e6) : .null),
                ("error", report.l2Status == .ok ? .null : .string(report.detail)),
                ("status_code", .number(Int(report.l2Status.rawValue))),
            ]
            if let tier = secondTier as? any ObservableTier {
                l2 += tier.healthComponents()
                if tier.breakerStateName == "OPEN" { healthy = false }
            }
            components.append(("l2", .object(l2)))
        } else {
            components.append(("l2", .object([("status", .string("not_configured"))])))
        }
        log(healthy ? .info : .warning, "health.report", [("status", healthy ? "healthy" : "unhealthy"),
                                                         ("l2_status", "\(report.l2Status.rawValue)")])
        let listener = listenerCounters
        components.append(("listener", .object([
            ("running", .bool(listener.running)), ("subscribed", .bool(listener.subscribed)),
            ("received", .number(listener.received)), ("applied", .number(listener.applied)),
            ("dropped", .number(listener.dropped)), ("resubscriptions", .number(listener.resubscriptions)),
        ])))
        return JSONWriter.write(.object([
            ("status", .string(healthy ? "healthy" : "unhealthy")),
            ("healthy", .bool(healthy)),
            ("namespace", .string(metricsNamespace)),
            ("components", .object(components)),
        ]))
    }
}
