import Testing
@testable import CachekitCore

@Suite struct MessagePackTests {
    @Test func shortestUnsignedEncodings() {
        let cases: [(UInt64, [UInt8])] = [
            (0, [0x00]), (127, [0x7f]), (128, [0xcc, 0x80]), (255, [0xcc, 0xff]),
            (256, [0xcd, 0x01, 0x00]), (65536, [0xce, 0x00, 0x01, 0x00, 0x00]),
            (1 << 32, [0xcf, 0, 0, 0, 1, 0, 0, 0, 0]),
        ]
        for (value, expected) in cases {
            var writer = MessagePackEncoder()
            writer.writeUnsigned(value)
            #expect(writer.bytes == expected, "\(value)")
        }
    }

    @Test func shortestSignedEncodings() {
        let cases: [(Int64, [UInt8])] = [
            (-1, [0xff]), (-32, [0xe0]), (-33, [0xd0, 0xdf]), (-129, [0xd1, 0xff, 0x7f]),
            (Int64.min, [0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0]), (5, [0x05]),
        ]
        for (value, expected) in cases {
            var writer = MessagePackEncoder()
            writer.writeSigned(value)
            #expect(writer.bytes == expected, "\(value)")
        }
    }

    @Test func readerRoundTripsEveryType() throws {
        var writer = MessagePackEncoder()
        writer.writeArrayHeader(9)
        writer.writeNil()
        writer.writeBool(true)
        writer.writeSigned(-1000)
        writer.writeUnsigned(UInt64.max)
        writer.writeFloat64(1.5)
        writer.writeString("héllo")
        ([1, 2, 3] as [UInt8]).withUnsafeBytes { writer.writeBinary($0) }
        writer.writeMapHeader(1)
        writer.writeString("k")
        writer.writeNil()
        ([9, 9] as [UInt8]).withUnsafeBytes { writer.writeExtension(type: -1, data: $0) }
        try writer.bytes.withUnsafeBytes { raw in
            var reader = MessagePackDecoder(raw)
            #expect(try reader.next() == .array(9))
            #expect(try reader.next() == .nil)
            #expect(try reader.next() == .bool(true))
            #expect(try reader.next() == .int(-1000))
            #expect(try reader.next() == .uint(UInt64.max))
            #expect(try reader.next() == .float64(1.5))
            guard case .str(let range) = try reader.next() else { Issue.record("str"); return }
            #expect(String(decoding: raw[range], as: UTF8.self) == "héllo")
            guard case .bin(let bin) = try reader.next() else { Issue.record("bin"); return }
            #expect(Array(raw[bin]) == [1, 2, 3])
            #expect(try reader.next() == .map(1))
            try reader.skip()
            try reader.skip()
            guard case .ext(type: -1, let ext) = try reader.next() else { Issue.record("ext"); return }
            #expect(Array(raw[ext]) == [9, 9])
            #expect(reader.isAtEnd)
        }
    }

    @Test func truncatedAndHostileInputThrowsInvalidInput() {
        let hostile: [[UInt8]] = [
            [0xc1], [0xcd, 0x01], [0xdb, 0xff, 0xff, 0xff, 0xff], [0xc6, 0x7f, 0xff, 0xff, 0xff, 0x00],
            [0xdd, 0xff, 0xff, 0xff, 0xff], [0xdf, 0x00, 0x00, 0x00, 0x02, 0x01],
            [0xa5, 0x61], [0xcb, 0, 0, 0],
        ]
        for bytes in hostile {
            bytes.withUnsafeBytes { raw in
                var reader = MessagePackDecoder(raw)
                #expect(throws: CachekitError.self, "\(bytes)") { try reader.skip() }
            }
        }
    }

    @Test func deepNestingIsRefusedWithoutRecursion() {
        let deep = [UInt8](repeating: 0x91, count: 100_000) + [0xc0]
        deep.withUnsafeBytes { raw in
            var reader = MessagePackDecoder(raw)
            do {
                try reader.skip(depthLimit: 512)
                Issue.record("expected a depth error")
            } catch let error as CachekitError {
                #expect(error.status == .invalidInput)
            } catch {
                Issue.record("unexpected error \(error)")
            }
        }
    }
}
