import Glibc
import Testing
@testable import CachekitCore

/// The observability core: striped histograms (cumulative, exact under threads), the exposition
/// writer's escaping, failures counted by operation through fail-open, the log sampler's rate,
/// and the process log hook (level, removal, no re-entry).
@Suite(.serialized) struct ObservabilityTests {  // the log hook is process-wide
    static let document: [UInt8] = [0xa5] + Array("value".utf8)

    @Test func histogramBucketsAreCumulativeAndCountEveryObservation() {
        let histogram = StripedHistogram(bounds: [10, 100, 1000], boundLabels: ["10", "100", "1000"], exportScale: 1)
        for value in [0, 10, 11, 100, 500, 1000, 1001, 5000] { histogram.observe(value) }
        let snapshot = histogram.snapshot
        #expect(snapshot.cumulative == [2, 4, 6, 8])
        #expect(snapshot.count == 8)
        #expect(snapshot.sum == Double(0 + 10 + 11 + 100 + 500 + 1000 + 1001 + 5000))
    }

    @Test func stripedUpdatesFromManyThreadsSumExactly() async {
        let histogram = StripedHistogram(bounds: OperationMetrics.durationBoundsNanoseconds,
                                         boundLabels: OperationMetrics.durationLabelsMilliseconds, exportScale: 1e-6)
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                group.addTask { for i in 0..<10_000 { histogram.observe((task &* 10_000 &+ i) &* 1_000) } }
            }
        }
        #expect(histogram.snapshot.count == 80_000)
        #expect(histogram.snapshot.cumulative.first == 11)  // <= 10 µs: task 0, i = 0...10
    }

    @Test func exposedBoundsAreCachekitPysBuckets() {
        // cachekit-py 0.24.1 DURATION_BUCKETS_MS and SIZE_BUCKETS_BYTES (reliability/async_metrics.py).
        let milliseconds = OperationMetrics.durationBoundsNanoseconds.map { Double($0) / 1e6 }
        #expect(milliseconds == [0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0])
        #expect(OperationMetrics.sizeBoundsBytes == (2...14).map { 1 << (2 * $0) })
        #expect(OperationMetrics.durationLabelsMilliseconds.map { Double($0)! } == milliseconds)
        #expect(OperationMetrics.sizeLabels.map { Int(Double($0)!) } == OperationMetrics.sizeBoundsBytes)
    }

    @Test func labelValuesAreEscaped() {
        var text = PrometheusText()
        text.family("x_total", .counter, "help with \\ and\nnewline")
        text.sample("x_total", [("namespace", "a\"b\\c\nd")], 3)
        #expect(text.text == "# HELP x_total help with \\\\ and\\nnewline\n# TYPE x_total counter\nx_total{namespace=\"a\\\"b\\\\c\\nd\"} 3\n")
    }

    @Test func failuresAreCountedByOperationAndSetsOnlyTimedWhenStored() throws {
        let store = FakeL2Store()
        let cache = try CacheTierTests.makeCache(store)
        try CacheTierTests.set(cache, "a")
        store.failing(with: .backendUnavailable)
        try CacheTierTests.set(cache, "b")
        try CacheTierTests.set(cache, "c")
        _ = try CacheTierTests.get(cache, "missing")
        let metrics = cache.stats.metrics
        #expect(metrics.failureCount(.set) == 2)
        #expect(metrics.failureCount(.get) == 1)
        #expect(metrics.setDuration.snapshot.count == 1)
        let text = cache.metricsText()
        #expect(text.contains("cache_operations_total{operation=\"set\",namespace=\"default\",success=\"True\",serializer=\"rust\"} 1\n"))
        #expect(text.contains("cache_operations_total{operation=\"set\",namespace=\"default\",success=\"False\",serializer=\"unknown\"} 2\n"))
    }

    @Test func samplerFollowsTheRateAndNeverDropsErrors() {
        let none = LogSampler(rate: 0), all = LogSampler(rate: 1), tenth = LogSampler(rate: 0.1)
        var admitted = 0
        for _ in 0..<20_000 {
            #expect(!none.admits(.warning))
            #expect(none.admits(.error))
            #expect(all.admits(.debug))
            if tenth.admits(.info) { admitted += 1 }
        }
        #expect(admitted > 1_400 && admitted < 2_600)  // 10% of 20,000, well outside chance
    }

    @Test func logHookDeliversAtTheLevelAskedAndNothingOnceRemoved() throws {
        let namespace = "swift-hook-\(getpid())"
        let seen = Locked<[String]>([])
        let config = CacheConfig()
        try config.set("metrics_namespace", namespace)
        try config.set("log_sampling_rate", "1")
        let cache = try Cache(config: config)
        func run() throws {
            try CacheTierTests.set(cache, "k")
            _ = try CacheTierTests.get(cache, "k")
            _ = try CacheTierTests.get(cache, "absent")
        }
        let handler: LogHook.Handler = { event in
            guard event.fields.contains(where: { $0.name == "namespace" && $0.value == namespace }) else { return }
            #expect(!event.fields.contains(where: { $0.value.contains("absent") || $0.value.contains("value") }))
            seen.withLock { $0.append(event.name) }
        }
        let installed = LogHook.install(handler, minimumLevel: .debug)
        #expect(installed)
        try run()
        #expect(seen.withLock { $0 } == ["cache.set", "cache.hit", "cache.miss"])
        _ = LogHook.install(handler, minimumLevel: .warning)
        try run()
        #expect(seen.withLock { $0 }.count == 3)
        _ = LogHook.install(nil, minimumLevel: .debug)
        #expect(!LogHook.isEnabled(.error))
        try run()
        #expect(seen.withLock { $0 }.count == 3)
    }

    @Test func aHandlerCannotReplaceItself() {
        let refused = Locked(false)
        let installed = LogHook.install({ event in
            guard event.name == "test.reentry" else { return }
            let replaced = LogHook.install(nil, minimumLevel: .debug)
            refused.withLock { $0 = !replaced }
        }, minimumLevel: .error)
        #expect(installed)
        LogHook.emit(LogEvent(level: .error, name: "test.reentry", fields: []))
        #expect(refused.withLock { $0 })
        let removed = LogHook.install(nil, minimumLevel: .debug)
        #expect(removed)
    }
}
