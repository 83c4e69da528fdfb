import Testing
@testable import CachekitRedis

/// The SCAN page and drain chunk interpreters RedisL2's sweeps use (also fuzzed: scan-drain).
@Suite struct SweepReplyTests {
    @Test func scanPageTakesCursorAndBulkKeysOnly() throws {
        let reply = RedisValue.array([.bulk(Array("17".utf8)), .array([.bulk(Array("k:1".utf8)), .integer(3), .null, .bulk([])])])
        let page = try #require(RedisL2.scanPage(reply))
        #expect(page.cursor == Array("17".utf8))
        #expect(page.keys == [Array("k:1".utf8), []])
    }

    @Test func scanPageRefusesOtherShapes() {
        #expect(RedisL2.scanPage(.array([.integer(0), .array([])])) == nil)
        #expect(RedisL2.scanPage(.array([.bulk(Array("0".utf8))])) == nil)
        #expect(RedisL2.scanPage(.array([.bulk(Array("0".utf8)), .bulk([])])) == nil)
        #expect(RedisL2.scanPage(.error("ERR no")) == nil)
    }

    /// Every element counts towards the chunk (a full chunk means the set may hold more), only bulk strings are members.
    @Test func drainChunkCountsEveryElement() throws {
        let chunk = try #require(RedisL2.drainedMembers(.array([.bulk(Array("a".utf8)), .integer(1), .bulk(Array("b".utf8))])))
        #expect(chunk.members == [Array("a".utf8), Array("b".utf8)])
        #expect(chunk.count == 3)
        #expect(RedisL2.drainedMembers(.bulk([])) == nil)
        #expect(RedisL2.drainedMembers(.null) == nil)
    }
}
