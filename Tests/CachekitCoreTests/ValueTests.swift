import Testing
@testable import CachekitCore

@Suite struct ValueTests {
    @Test func treesRoundTripByteForByte() throws {
        let documents: [[UInt8]] = [
            [0xc0], [0x2a], [0xd0, 0x80], [0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            [0xca, 0x3f, 0xc0, 0x00, 0x00], [0xcb, 0x40, 0x09, 0x1e, 0xb8, 0x51, 0xeb, 0x85, 0x1f],
            [0x93, 0x01, 0xa1, 0x61, 0x80], [0x82, 0xa1, 0x62, 0xc3, 0xa1, 0x61, 0x90], [0xd4, 0x05, 0x01],
            [0xc4, 0x02, 0x00, 0xff],
        ]
        for document in documents {
            #expect(try MessagePackValue.decode(document).encoded == document, "\(document)")
        }
    }

    @Test func decodingIsIterativeAndBounded() {
        let deep = [UInt8](repeating: 0x91, count: 100_000) + [0xc0]
        do {
            _ = try MessagePackValue.decode(deep)
            Issue.record("decoded a 100000-deep document")
        } catch {
            #expect(error.status == .nestingTooDeep)
        }
        // Nested headers that each claim many elements: refused without huge reservations.
        let bomb = [UInt8]([0xdc, 0x07, 0xd0]).repeated(5000)
        #expect(throws: CachekitError.self) { try MessagePackValue.decode(bomb) }
        #expect(throws: CachekitError.self) { try MessagePackValue.decode([0xa2, 0xc3, 0x28]) }
        #expect(throws: CachekitError.self) { try MessagePackValue.decode([0xc0, 0xc0]) }
    }

    @Test func builderTracksContainers() throws {
        let builder = MessagePackWriter()
        #expect(throws: CachekitError.self) { try builder.finished() }
        try builder.writeArray(count: 2)
        try builder.writeMap(count: 0)
        #expect(throws: CachekitError.self) { try builder.finished() }
        try withBytes([0x92, 0x01, 0x02]) { raw throws(CachekitError) in try builder.writeRaw(raw) }
        #expect(try builder.finished() == [0x92, 0x80, 0x92, 0x01, 0x02])
        #expect(throws: CachekitError.self) { try builder.writeNil() }
        builder.reset()
        try withBytes([0x68, 0x69]) { raw throws(CachekitError) in try builder.writeString(raw) }
        #expect(try builder.finished() == [0xa2, 0x68, 0x69])
        builder.reset()
        #expect(throws: CachekitError.self) {
            try withBytes([0xff]) { raw throws(CachekitError) in try builder.writeString(raw) }
        }
        #expect(throws: CachekitError.self) { try builder.writeArray(count: -1) }
        for _ in 0..<MessagePackValidator.maxNesting { try builder.writeArray(count: 1) }
        #expect(throws: CachekitError.self) { try builder.writeArray(count: 1) }
        try builder.writeNil()
        #expect(try builder.finished().count == MessagePackValidator.maxNesting + 1)
    }

    @Test func builderRefusesKeysTheReaderRefuses() throws {
        let builder = MessagePackWriter()
        try builder.writeMap(count: 2)
        #expect(throws: CachekitError.self) { try builder.writeArray(count: 0) }
        #expect(throws: CachekitError.self) { try withBytes([0x90]) { raw throws(CachekitError) in try builder.writeRaw(raw) } }
        try builder.writeInt(1)            // an int key is fine in interop documents
        try builder.writeArray(count: 0)   // as a value, an array is fine
        try withBytes([0xa1, 0x61]) { raw throws(CachekitError) in try builder.writeRaw(raw) }
        try builder.writeNil()
        let document = try builder.finished()
        try withBytes(document) { raw throws(CachekitError) in try MessagePackValidator.validate(raw, keys: .hashable) }
        builder.reset()
        try builder.writeMap(count: 40)
        for key in 0..<32 { try builder.writeInt(Int64(key)); try builder.writeNil() }
        #expect(throws: CachekitError.self) { try builder.writeInt(99) }
        try withBytes([0x68]) { raw throws(CachekitError) in try builder.writeString(raw) }
        builder.reset()
        #expect(throws: CachekitError.self) { try withBytes([1, 2]) { raw throws(CachekitError) in try builder.writeExtension(type: -1, data: raw) } }
    }

    @Test func validatorMirrorsPythonsReader() {
        func status(_ bytes: [UInt8], _ keys: MessagePackValidator.KeyRule = .stringOrBinary) -> Status? {
            bytes.withUnsafeBytes { raw -> Status? in
                do throws(CachekitError) { try MessagePackValidator.validate(raw, keys: keys); return nil } catch { return error.status }
            }
        }
        #expect(status([0x81, 0xc4, 0x01, 0x61, 0x01]) == nil)         // bin keys are fine
        #expect(status([0x81, 0x01, 0x01]) == .invalidMapKey)
        #expect(status([0x81, 0x01, 0x01], .hashable) == nil)
        #expect(status([0x81, 0x80, 0x01], .hashable) == .invalidMapKey)
        #expect(status([0xd6, 0xff, 0, 0, 0, 0]) == nil)                // timestamp 32
        #expect(status([0xd5, 0xff, 0, 0]) == .invalidInput)            // timestamp of 2 bytes
        var manyIntKeys: [UInt8] = [0xde, 0x00, 33]
        for key in 0..<33 { manyIntKeys += [UInt8(key), 0xc0] }
        #expect(status(manyIntKeys, .hashable) == .invalidMapKey)
        #expect(status([0x92, 0x01]) == .invalidInput)
    }

    @Test func jsonParsesStrictlyAndWritesLikePython() throws {
        let value = try JSONParser.parse(#" {"a": [1, -2, 3.5, 1e3, true, null, "\u00e9\ud83d\ude00\n"], "b": {}} "#)
        #expect(JSONWriter.write(value) == "{\"a\": [1, -2, 3.5, 1000.0, true, null, \"é😀\\n\"], \"b\": {}}")
        for bad in ["", "{", "[1,]", "{\"a\" 1}", "01", "\"\\ud800\"", "\"a\u{01}\"", "[1] x", "tru", "18446744073709551616"] {
            #expect(throws: CachekitError.self, "\(bad)") { try JSONParser.parse(bad) }
        }
        #expect(throws: CachekitError.self) { try JSONParser.parse(String(repeating: "[", count: 65) + String(repeating: "]", count: 65)) }
        #expect(JSONWriter.quoted("a\"b\\c\u{1}") == "\"a\\\"b\\\\c\\u0001\"")
        #expect(try JSONParser.parse("NaN") == .double(.nan))
    }
}

extension Array {
    func repeated(_ times: Int) -> [Element] { (0..<times).flatMap { _ in self } }
}
