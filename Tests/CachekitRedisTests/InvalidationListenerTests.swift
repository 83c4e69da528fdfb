import CachekitCore
import Glibc
import Testing
@testable import CachekitRedis

@Suite struct InvalidationListenerTests {
    /// The thread runs and retries against a port nothing listens on while other threads write
    /// tracked keys; freeing the cache joins it (TSan checks the shared state).
    @Test func listenerThreadStartsRetriesAndStops() throws {
        let config = CacheConfig()
        try config.set("redis_url", "redis://127.0.0.1:1/0")
        try config.set("invalidation_listener", "1")
        var cache: Cache? = try Cache.open(config: config)
        #expect(cache?.listenerCounters.running == true)
        let shared = cache!
        DispatchGroupLite.run(threads: 4) { t in
            for i in 0..<50 {
                let key = Array("func:m.f:args:\(t):\(i)".utf8)
                key.withUnsafeBytes { k in
                    _ = [UInt8(0xc0)].withUnsafeBytes { try? shared.setTracked(k, $0, ttlSeconds: 0, registryId: "ck:reg::00ff") }
                }
                _ = shared.listenerCounters
            }
        }
        #expect(shared.listenerCounters.subscribed == false)
        cache = nil
    }
}

/// Runs body on n pthreads and waits for all.
enum DispatchGroupLite {
    final class Box { let body: (Int) -> Void; let index: Int; init(_ b: @escaping (Int) -> Void, _ i: Int) { body = b; index = i } }
    static func run(threads: Int, _ body: @escaping (Int) -> Void) {
        var handles: [pthread_t] = []
        for i in 0..<threads {
            var thread = pthread_t()
            let box = Unmanaged.passRetained(Box(body, i)).toOpaque()
            pthread_create(&thread, nil, { raw in
                guard let raw else { return nil }
                let box = Unmanaged<Box>.fromOpaque(raw).takeRetainedValue()
                box.body(box.index)
                return nil
            }, box)
            handles.append(thread)
        }
        for thread in handles { pthread_join(thread, nil) }
    }
}
