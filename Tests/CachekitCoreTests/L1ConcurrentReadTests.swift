import Foundation
import Synchronization
import Testing
@testable import CachekitCore

/// Lock-free L1 hits (`L1ReadGate`) against a writer that replaces, deletes, expires and evicts
/// the very keys being read: a reader must never get torn bytes, another key's value, a value
/// older than a write or delete that finished before its read began, or an expired value. Run
/// under ThreadSanitizer too (`swift test --sanitize=thread --filter L1`): any use of freed
/// storage or unordered access is reported there.
@Suite struct L1ConcurrentReadTests {
    private static let hotKeys = 8

    private static func hotKey(_ id: Int) -> [UInt8] { Array("hot-\(id)".utf8) }

    /// [key id][version, 8 bytes][expiresAt, 8 bytes] then bytes derived from both; the length
    /// depends on the version, so a mix of two versions' bytes cannot pass `decode`.
    private static func value(key: Int, version: Int, expiresAt: Int64) -> [UInt8] {
        var bytes = [UInt8(truncatingIfNeeded: key)]
        withUnsafeBytes(of: UInt64(version).littleEndian) { bytes.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt64(bitPattern: expiresAt).littleEndian) { bytes.append(contentsOf: $0) }
        for i in bytes.count..<(17 + (version % 29) * 37) { bytes.append(filler(i, key: key, version: version)) }
        return bytes
    }

    private static func filler(_ i: Int, key: Int, version: Int) -> UInt8 {
        UInt8(truncatingIfNeeded: i &* 131 &+ version &* 7 &+ key)
    }

    private static func word(_ bytes: [UInt8], at offset: Int) -> UInt64 {
        (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[offset + $1]) << (8 * UInt64($1)) }
    }

    /// (version, expiresAt) of a well-formed value of `key`, or nil.
    private static func decode(_ bytes: [UInt8], key: Int) -> (version: Int, expiresAt: Int64)? {
        guard bytes.count >= 17, Int(bytes[0]) == key else { return nil }
        let version = Int(truncatingIfNeeded: word(bytes, at: 1))
        guard version > 0, bytes.count == 17 + (version % 29) * 37 else { return nil }
        for i in 17..<bytes.count where bytes[i] != filler(i, key: key, version: version) { return nil }
        return (version, Int64(bitPattern: word(bytes, at: 9)))
    }

    /// What the writer has finished, for readers to check against.
    private final class Board: @unchecked Sendable {  // every field is atomic
        let clock = Atomic<Int64>(1)
        let writerDone = Atomic<Bool>(false)
        /// Per hot key: v > 0 when a write of version v has returned, -v when a delete has
        /// returned after every version up to v was written.
        let published: UnsafeMutablePointer<Atomic<Int>>
        let torn = Atomic<Int>(0), stale = Atomic<Int>(0), expired = Atomic<Int>(0), hits = Atomic<Int>(0)

        init() {
            published = .allocate(capacity: hotKeys)
            for i in 0..<hotKeys { (published + i).initialize(to: Atomic(0)) }
        }

        deinit {
            published.deinitialize(count: hotKeys)
            published.deallocate()
        }
    }

    private static func runThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        let finished = DispatchGroup()
        for index in 0..<count {
            finished.enter()
            Thread { body(index); finished.leave() }.start()
        }
        finished.wait()
    }

    private static func isHit(_ cache: L1Cache, _ key: [UInt8]) -> Bool {
        let bytes = try? key.withUnsafeBytes { k -> [UInt8]? in try cache.get(k)?.bytes.array }
        return bytes != nil
    }

    private static func read(_ cache: L1Cache, _ board: Board, seed: UInt64) {
        var state = seed
        repeat {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let id = Int(state >> 61)
            let before = board.published[id].load(ordering: .acquiring)
            let now = board.clock.load(ordering: .acquiring)
            let got = try? hotKey(id).withUnsafeBytes { k -> [UInt8]? in try cache.get(k, now: now)?.bytes.array }
            guard let bytes = got ?? nil else { continue }
            board.hits.wrappingAdd(1, ordering: .relaxed)
            guard let (version, expiresAt) = decode(bytes, key: id) else {
                board.torn.wrappingAdd(1, ordering: .relaxed)
                continue
            }
            if before > 0 ? version < before : version <= -before { board.stale.wrappingAdd(1, ordering: .relaxed) }
            if expiresAt <= now { board.expired.wrappingAdd(1, ordering: .relaxed) }
        } while !board.writerDone.load(ordering: .acquiring)
    }

    private static func write(_ cache: L1Cache, _ board: Board, iterations: Int) {
        var state: UInt64 = 0x5EED
        var version = 0
        for iteration in 0..<iterations {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let roll = Int(state >> 57)  // 0..<128
            let id = Int((state >> 40) & 7)
            let now = board.clock.load(ordering: .relaxed)
            switch roll {
            case 0..<64:  // replace, half of them expiring within a few ticks
                version += 1
                let ttl: Int64 = roll % 2 == 0 ? 0 : Int64(roll % 4)
                let value = value(key: id, version: version, expiresAt: ttl == 0 ? Int64.max : now + ttl)
                hotKey(id).withUnsafeBytes { k in value.withUnsafeBytes { _ = cache.set(k, $0, ttlNanoseconds: ttl, now: now) } }
                board.published[id].store(version, ordering: .releasing)
            case 64..<76:
                hotKey(id).withUnsafeBytes { _ = cache.remove($0) }
                board.published[id].store(-version, ordering: .releasing)
            case 76..<78:  // a namespace-style flush of every hot key
                Array("hot-".utf8).withUnsafeBytes { _ = cache.removeAll(withPrefix: $0) }
                for i in 0..<hotKeys { board.published[i].store(-version, ordering: .releasing) }
            case 78:
                cache.removeAll()
                for i in 0..<hotKeys { board.published[i].store(-version, ordering: .releasing) }
            default:  // other keys: the index grows, the slots move, the policy evicts hot entries
                let cold = Array("cold-\(iteration % 500)".utf8), filler = [UInt8](repeating: 7, count: 200)
                cold.withUnsafeBytes { k in filler.withUnsafeBytes { _ = cache.set(k, $0, ttlNanoseconds: 0, now: now) } }
            }
            if iteration % 3 == 0 { board.clock.wrappingAdd(1, ordering: .releasing) }
        }
        board.writerDone.store(true, ordering: .releasing)
    }

    @Test(arguments: [1, 4])
    func readersNeverSeeTornStaleOrExpiredValues(shards: Int) {
        // Small enough that the cold keys evict hot ones and the index and slots grow as it fills.
        let cache = L1Cache(.init(maxBytes: 48 * 1024, maxEntries: 96, shardCount: shards))
        let board = Board()
        Self.runThreads(4) { index in
            if index == 0 { Self.write(cache, board, iterations: 30_000) }
            else { Self.read(cache, board, seed: UInt64(index) &* 0x9E37_79B9_7F4A_7C15) }
        }
        #expect(board.torn.load(ordering: .relaxed) == 0, "torn or foreign values returned")
        #expect(board.stale.load(ordering: .relaxed) == 0, "values older than a finished write or delete returned")
        #expect(board.expired.load(ordering: .relaxed) == 0, "expired values returned")
        #expect(board.hits.load(ordering: .relaxed) > 0, "the readers never hit: nothing was tested")
    }

    /// Lock-free hits are counted exactly, even by threads sharing a stripe, and the accesses they
    /// sample still reach the policy: the hot keys outlive a scan as with locked hits.
    @Test func hitsAreCountedExactlyAndReachThePolicy() {
        let cache = L1Cache(.init(maxBytes: 64 * 1024, maxEntries: 10_000, shardCount: 2))
        let value = [UInt8](repeating: 1, count: 100)
        for i in 0..<8 { Array("k\(i)".utf8).withUnsafeBytes { k in value.withUnsafeBytes { _ = cache.set(k, $0, ttlNanoseconds: 0) } } }
        Self.runThreads(6) { index in
            for round in 0..<2_000 {
                _ = Self.isHit(cache, Array("k\((index + round) % 8)".utf8))
            }
        }
        #expect(cache.usage.hits == 6 * 2_000)
        // A scan of one-time keys larger than the cache: the sampled hits made k0..k7 popular.
        for i in 0..<2_000 {
            Array("scan-\(i)".utf8).withUnsafeBytes { k in value.withUnsafeBytes { _ = cache.set(k, $0, ttlNanoseconds: 0) } }
        }
        let survivors = (0..<8).filter { Self.isHit(cache, Array("k\($0)".utf8)) }
        #expect(survivors.count >= 7, "only \(survivors.count) of 8 hot entries survived the scan")
    }
}
