import Glibc
import Testing
@testable import CachekitCore

@Suite struct InvalidationListenerTests {
    private let rid = Array("ck:reg::00ff".utf8)

    private func decode(_ bytes: [UInt8]) -> InvalidationEvent? {
        bytes.withUnsafeBytes { InvalidationEvent.decode($0) }
    }

    private func event(_ fields: [(String, String)]) -> [UInt8] {
        var writer = MessagePackEncoder()
        writer.writeMapHeader(fields.count)
        for (name, value) in fields { writer.writeString(name); writer.writeString(value) }
        return writer.bytes
    }

    @Test func decodesCachekitPysTwoShapes() {
        #expect(decode(event([("r", "ck:reg::00ff")])) == InvalidationEvent(registryId: rid, key: nil))
        #expect(decode(event([("r", "ck:reg::00ff"), ("k", "ns:a")])) == InvalidationEvent(registryId: rid, key: Array("ns:a".utf8)))
        // Order and unknown scalar fields do not matter, as in cachekit-py's decoder.
        #expect(decode(event([("k", "ns:a"), ("x", "y"), ("r", "ck:reg::00ff")]))?.key == Array("ns:a".utf8))
        #expect(decode([0x82, 0xa1, 0x72] + event([("r", "ck:reg::00ff")]).dropFirst(3) + [0x01, 0xc0])?.registryId == rid)
    }

    @Test func refusesEverythingElse() {
        let good = event([("r", "ck:reg::00ff"), ("k", "ns:a")])
        let refused: [[UInt8]] = [
            [], [0xc1], [0x91, 0x01], [0x80],
            event([("k", "ns:a")]),
            good + [0x00],                                       // trailing bytes
            Array(good.dropLast()),                              // truncated
            event([("r", String(repeating: "x", count: 1025))]), // field over the cap
            event([("r", "a"), ("b", "c"), ("d", "e"), ("f", "g"), ("h", "i")]),  // 5 entries
            [0x81, 0xa1, 0x72, 0x01],                            // r not a string
            [0x81, 0xa1, 0x72, 0xc4, 0x01, 0x61],                // r as bin
            [0x82, 0xa1, 0x72, 0xa1, 0x61, 0xa1, 0x6b, 0xa2, 0xff, 0xfe],  // k not UTF-8
            [0x81, 0xa1, 0x72, 0xdb, 0xff, 0xff, 0xff, 0xff],    // a length past the end
            [UInt8](repeating: 0x81, count: 3000),               // deep nesting
            event([("r", "ck:reg::00ff"), ("k", String(repeating: "k", count: 1000))]) + [UInt8](repeating: 0, count: 4000),
        ]
        for bytes in refused { #expect(decode(bytes) == nil, "\(bytes.prefix(12))") }
    }

    @Test func indexIsBoundedAndFallsBackToEverything() {
        var index = RegistryIndex(maxKeys: 3)
        index.record(rid, [1]); index.record(rid, [2]); index.record(rid, [1])
        index.record([9], [3])
        #expect(index.count == 3 && !index.overflowed)
        index.forget(rid, [2])
        #expect(index.take(rid) == [[1]] && index.count == 1)
        index.record(rid, [4]); index.record(rid, [5]); index.record(rid, [6])
        #expect(index.overflowed)
        #expect(index.take(rid) == nil)  // the caller clears all of L1
        #expect(index.count == 0 && !index.overflowed && index.take([9]) == [])
    }

    @Test func eventsDropExactlyTheirKeysFromL1() {
        let l1 = L1Cache(.init(maxBytes: 1 << 20, maxEntries: 1000))
        let prefix = Array("t:default:".utf8)
        let index = SharedRegistryIndex(maxKeys: 2)
        func put(_ key: String) { (prefix + Array(key.utf8)).withUnsafeBytes { k in _ = [UInt8(1)].withUnsafeBytes { l1.set(k, $0, ttlNanoseconds: 0) } } }
        func has(_ key: String) -> Bool { (prefix + Array(key.utf8)).withUnsafeBytes { l1.contains($0) } }
        for key in ["a", "b", "c", "d"] { put(key) }
        index.state.withLock { $0.record(rid, Array("a".utf8)); $0.record(rid, Array("b".utf8)) }
        KeyRegistry.apply(InvalidationEvent(registryId: rid, key: Array("c".utf8)), l1: l1, index: index, prefix: prefix)
        #expect(!has("c") && has("a") && has("b") && has("d"))
        KeyRegistry.apply(InvalidationEvent(registryId: rid, key: nil), l1: l1, index: index, prefix: prefix)
        #expect(!has("a") && !has("b") && has("d"))
        // Overflowed: a whole-function event clears all of L1.
        put("a")
        index.state.withLock { $0.record(rid, [1]); $0.record(rid, [2]); $0.record(rid, [3]) }
        KeyRegistry.apply(InvalidationEvent(registryId: Array("ck:reg::other".utf8), key: nil), l1: l1, index: index, prefix: prefix)
        #expect(!has("a") && !has("d"))
    }

    @Test func optionAndEnvironment() throws {
        let config = CacheConfig()
        #expect(!config.invalidationListener)
        try config.set("invalidation_listener", "1")
        #expect(config.invalidationListener)
        try config.set("invalidation_listener", "off")
        #expect(!config.invalidationListener)
        #expect(throws: CachekitError.self) { try config.set("invalidation_listener", "2") }
        try config.loadEnvironment { $0 == "CACHEKIT_INVALIDATION_LISTENER_ENABLED" ? "YES" : nil }
        #expect(config.invalidationListener)
    }

    /// The thread runs and retries against a port nothing listens on while other threads write
    /// tracked keys; freeing the cache joins it (TSan checks the shared state).
    @Test func listenerThreadStartsRetriesAndStops() throws {
        let config = CacheConfig()
        try config.set("redis_url", "redis://127.0.0.1:1/0")
        try config.set("invalidation_listener", "1")
        var cache: Cache? = try Cache(config: config)
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
                let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
                box.body(box.index)
                return nil
            }, box)
            handles.append(thread)
        }
        for thread in handles { pthread_join(thread, nil) }
    }
}
