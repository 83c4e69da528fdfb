import Testing
@testable import CachekitCore

/// The key arguments canonicalized from bytes give exactly what decoding them into trees and
/// canonicalizing those gives: the same key, or the same failure (status and message), for
/// generated documents and for every kind of bad input, in the tree path's order.
@Suite struct CanonicalStreamTests {
    /// The tree path as cachekit_key_auto ran it: decode and type-check args, then kwargs, then hash.
    static func treeKey(_ args: [UInt8], _ kwargs: [UInt8]) -> Result<String, CachekitError> {
        func tree(_ bytes: [UInt8], _ name: String, empty: MessagePackValue) throws(CachekitError) -> MessagePackValue {
            guard !bytes.isEmpty else { return empty }
            let value = try MessagePackValue.decode(bytes)
            switch (value, empty) {
            case (.array, .array), (.map, .map): return value
            default: throw CachekitError(.typeMismatch, "\(name) must be a MessagePack \(empty.typeName), got \(value.typeName)")
            }
        }
        do throws(CachekitError) {
            let arguments = try tree(args, "args", empty: .array([]))
            let keywords = try tree(kwargs, "kwargs", empty: .map([]))
            return .success(try CacheKeys.autoKey(namespace: "ns", function: "m.f", arguments: arguments,
                                                  keywordArguments: keywords, integrity: true))
        } catch { return .failure(error) }
    }

    static func streamKey(_ args: [UInt8], _ kwargs: [UInt8]) -> Result<String, CachekitError> {
        do throws(CachekitError) {
            return .success(try withBytes(args) { a throws(CachekitError) in
                try withBytes(kwargs) { k throws(CachekitError) in
                    try CacheKeys.autoKey(namespace: "ns", function: "m.f", argumentBytes: a, keywordArgumentBytes: k,
                                          integrity: true)
                }
            })
        } catch { return .failure(error) }
    }

    static func expectSame(_ args: [UInt8], _ kwargs: [UInt8] = [], sourceLocation: SourceLocation = #_sourceLocation) {
        switch (treeKey(args, kwargs), streamKey(args, kwargs)) {
        case (.success(let tree), .success(let stream)):
            #expect(tree == stream, sourceLocation: sourceLocation)
        case (.failure(let tree), .failure(let stream)):
            #expect(tree.status == stream.status && tree.message == stream.message, "\(tree) vs \(stream)",
                    sourceLocation: sourceLocation)
        case (let tree, let stream):
            Issue.record("tree \(tree) but stream \(stream)", sourceLocation: sourceLocation)
        }
    }

    static func encoded(_ value: MessagePackValue) -> [UInt8] {
        var writer = MessagePackEncoder()
        value.encode(into: &writer)
        return writer.bytes
    }

    /// A random value of every type the encoder writes, maps with string keys (some repeated).
    static func randomValue(_ generator: inout SystemRandomNumberGenerator, depth: Int) -> MessagePackValue {
        switch Int.random(in: 0..<(depth > 3 ? 8 : 10), using: &generator) {
        case 0: return .nil
        case 1: return .bool(Bool.random(using: &generator))
        case 2: return .int(Int64.random(in: Int64.min...Int64.max, using: &generator))
        case 3: return .uint(UInt64.random(in: 0...UInt64.max, using: &generator))
        case 4: return .float64([0.0, -0.0, 1.5, -2.25, .infinity].randomElement(using: &generator) ?? 0)
        case 5: return .float32([0.0, -0.0, 3.5].randomElement(using: &generator) ?? 0)
        case 6: return .string(["", "a", "é", "zz", "key", String(repeating: "x", count: 40)].randomElement(using: &generator) ?? "")
        case 7: return .binary((0..<Int.random(in: 0..<5, using: &generator)).map { UInt8($0) })
        case 8: return .array((0..<Int.random(in: 0..<4, using: &generator)).map { _ in randomValue(&generator, depth: depth + 1) })
        default:
            let keys = ["b", "a", "é", "aa", "B"].shuffled(using: &generator).prefix(Int.random(in: 0..<4, using: &generator))
            return .map(keys.map { MessagePackValue.Pair(.string($0), randomValue(&generator, depth: depth + 1)) })
        }
    }

    @Test func generatedDocumentsHashAlike() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<400 {
            let args = Self.encoded(.array((0..<Int.random(in: 0..<4)).map { _ in Self.randomValue(&generator, depth: 1) }))
            let kwargs = Self.encoded(Self.randomValue(&generator, depth: 0))
            Self.expectSame(args, Bool.random() ? kwargs : Self.encoded(.map([])))
        }
    }

    @Test func badInputFailsAlike() {
        let ext: [UInt8] = [0xd4, 0x05, 0x00]
        let intKeyMap: [UInt8] = [0x81, 0x01, 0xa1, 0x61]
        let duplicate: [UInt8] = [0x82, 0xa1, 0x61, 0x01, 0xa1, 0x61, 0x02]
        let badUTF8: [UInt8] = [0xa2, 0xc3, 0x28]
        let cases: [([UInt8], [UInt8])] = [
            ([0x91] + ext, []), ([0x91] + intKeyMap, []), ([0x91] + duplicate, []), ([0x91] + badUTF8, []),
            ([0x92] + ext + badUTF8, []),                        // a decoding error beats a canonical one
            ([0x92] + ext + intKeyMap, []), ([0x92] + intKeyMap + ext, []),
            ([0x91] + ext, intKeyMap), ([0x90], [0x81, 0xa1, 0x7a] + ext),
            ([0x82, 0xa1, 0x61, 0x01, 0x02, 0x03], []),         // map where an array belongs
            ([0x2a], []), ([0x90], [0x90]), ([0x90, 0x00], []), ([0x92, 0x01], []), ([0xc1], []),
            ([0x91, 0x82, 0xa1, 0x62] + ext + [0xa1, 0x61] + intKeyMap, []),  // values fail in sorted key order
            ([0x91, 0x82, 0xa1, 0x61, 0x01] + [0x01, 0x02], []),              // a non-string key, and no duplicate check
            ([0x91, 0xd9, 0x05, 0x61], []), ([0xdd, 0xff, 0xff, 0xff, 0xff], []),
        ]
        for (args, kwargs) in cases { Self.expectSame(args, kwargs) }
    }

    /// Nesting around both limits: the decoder's (open containers) and the encoder's (one level
    /// deeper, inside [args, kwargs]), empty containers included.
    @Test func nestingLimitsAlike() {
        let limit = MessagePackValue.defaultTreeDepthLimit
        for levels in [limit - 2, limit - 1, limit, limit + 1] {
            for innermost: [UInt8] in [[0x90], [0x80], [0x01], [0x91, 0x01]] {
                Self.expectSame([UInt8](repeating: 0x91, count: levels) + innermost)
                Self.expectSame([0x90], [UInt8](repeating: 0x81, count: 1).flatMap { [$0, 0xa1, 0x6b] }
                    + [UInt8](repeating: 0x91, count: levels) + innermost)
            }
        }
    }
}
