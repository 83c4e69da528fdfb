import Testing
@testable import CachekitCore

/// verbatim_entries: both tiers keep the caller's bytes exactly (no frame, no MessagePack check),
/// a read from Redis fills L1 with them, and the modes that encrypt or check entries refuse it.
@Suite struct VerbatimEntryTests {
    /// Not MessagePack (0xc1 is never used), as a JSON payload behind a caller-built frame is not.
    static let entry: [UInt8] = [0x43, 0x4b, 0x03, 0xc1] + Array(#"{"json": true}"#.utf8)

    static func makeCache(_ store: FakeL2Store, _ options: [(String, String)]) throws -> Cache {
        let config = CacheConfig()
        for (name, value) in options { try config.set(name, value) }
        return try Cache(config: config) { _ in store }
    }

    @Test func bothTiersKeepTheCallersBytes() throws {
        let store = FakeL2Store()
        let writer = try Self.makeCache(store, [("verbatim_entries", "1")])
        let key = Array("k".utf8)
        try key.withUnsafeBytes { k in try Self.entry.withUnsafeBytes { v in try writer.set(k, v, ttlSeconds: 60) } }
        #expect(store.stored(writer.prefix + key) == Self.entry)
        #expect(try key.withUnsafeBytes { try writer.getLocal($0)?.array } == Self.entry)
        let reader = try Self.makeCache(store, [("verbatim_entries", "yes"), ("mode", "minimal")])
        #expect(try key.withUnsafeBytes { try reader.get($0)?.array } == Self.entry)
        #expect(try key.withUnsafeBytes { try reader.getLocal($0)?.array } == Self.entry)  // filled from Redis
        let library = try Self.makeCache(store, [])
        #expect(throws: CachekitError.self) {
            try key.withUnsafeBytes { k in try Self.entry.withUnsafeBytes { v in try library.set(k, v, ttlSeconds: 60) } }
        }
    }

    @Test func encryptingAndInteropModesRefuseIt() throws {
        for mode in ["secure", "interop"] {
            let options = [("mode", mode), ("master_key", String(repeating: "ab", count: 32)), ("verbatim_entries", "1")]
            let error = #expect(throws: CachekitError.self) { _ = try Self.makeCache(FakeL2Store(), options) }
            #expect(error?.status == .invalidConfig && error?.message.contains("verbatim_entries") == true)
        }
    }
}
