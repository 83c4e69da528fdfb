import Testing
@testable import CachekitCore

/// Stores `data` and returns the envelope bytes.
func store(_ data: [UInt8], format: String = "msgpack") throws -> [UInt8] {
    try data.withUnsafeBytes { input in
        try Array(format.utf8).withUnsafeBytes { fmt in try Envelope.store(input, format: fmt).array }
    }
}

/// Retrieves an envelope, returning the data or the status it failed with.
func retrieve(_ envelope: [UInt8]) -> Result<[UInt8], CachekitError> {
    envelope.withUnsafeBytes { raw in
        do throws(CachekitError) {
            return .success(try Envelope.retrieve(raw).data.array)
        } catch {
            return .failure(error)
        }
    }
}

func status(_ envelope: [UInt8]) -> Status {
    switch retrieve(envelope) {
    case .success: return .ok
    case .failure(let error): return error.status
    }
}

@Suite struct EnvelopeVectorTests {
    struct WireVector: Sendable {
        let name: String
        let envelope: [UInt8]
        let input: [UInt8]
    }

    static let vectors: [WireVector] = {
        let raw = (try? Vectors.json("wire-format.json")["vectors"] as? [[String: Any]]) ?? []
        return raw.map {
            WireVector(name: $0["name"] as? String ?? "",
                       envelope: [UInt8](hex: $0["envelope_hex"] as? String ?? ""),
                       input: [UInt8](hex: $0["input_hex"] as? String ?? ""))
        }
    }()

    @Test func allTwelveVectorsArePresent() {
        #expect(Self.vectors.count == 12)
    }

    @Test(arguments: vectors.map(\.name))
    func vectorDecodesToItsInput(name: String) throws {
        let vector = try #require(Self.vectors.first { $0.name == name })
        #expect(try retrieve(vector.envelope).get() == vector.input)
    }

    /// `*_bin` vectors whose LZ4 block holds only literals re-encode byte for byte.
    @Test func literalOnlyBinVectorsReencodeExactly() throws {
        var checked = 0
        for vector in Self.vectors where vector.name.hasSuffix("_bin") {
            let (envelope, input) = (vector.envelope, vector.input)
            let header = try envelope.withUnsafeBytes { try Envelope.parse($0).compressedRange }
            let literalsOnly = Array(envelope[header]).withUnsafeBytes {
                LZ4Block.isLiteralsOnly($0, decodedCount: input.count)
            }
            guard literalsOnly else { continue }
            let stored = try store(input)
            #expect(stored == envelope, "\(vector.name): \(stored.hex) != \(envelope.hex)")
            checked += 1
        }
        #expect(checked >= 3)
    }
}

@Suite struct EnvelopeBehaviourTests {
    @Test(arguments: [0, 1, 15, 16, 255, 256, 4096, 65_535, 65_536, 1 << 20])
    func roundTripsEverySizeClass(size: Int) throws {
        var generator = SystemRandomNumberGenerator()
        let random = (0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let repetitive = (0..<size).map { UInt8(truncatingIfNeeded: $0 % 7) }
        for input in [random, repetitive] {
            #expect(try retrieve(store(input)).get() == input)
        }
    }

    @Test func emptyInputCompressesToOneZeroByte() throws {
        let envelope = try store([])
        #expect(envelope.prefix(4) == [0x94, 0xc4, 0x01, 0x00])
    }

    @Test func customFormatIsKept() throws {
        let envelope = try store([1, 2, 3], format: "json")
        let format = try envelope.withUnsafeBytes { raw -> String in
            let range = try Envelope.retrieve(raw).format
            return String(decoding: raw[range], as: UTF8.self)
        }
        #expect(format == "json")
    }

    @Test func invalidFormatIsRefused() {
        #expect(throws: CachekitError.self) { try store([1], format: "") }
        #expect(throws: CachekitError.self) { try store([1], format: String(repeating: "x", count: 256)) }
    }

    @Test func legacyIntegerArrayIsAccepted() throws {
        let input = Array("hello, cachekit!".utf8)
        let envelope = try store(input)
        // Rewrite compressed_data (bin8) as an array of integers.
        let block = Array(envelope[3..<(3 + Int(envelope[2]))])
        var legacy: [UInt8] = [0x94, 0xdc, 0x00, UInt8(block.count)]
        for byte in block { legacy += byte < 0x80 ? [byte] : [0xcc, byte] }
        legacy += envelope[(3 + block.count)...]
        #expect(try retrieve(legacy).get() == input)
    }
}

@Suite struct EnvelopeBadInputTests {
    let valid: [UInt8] = (try? store(Array("hello, cachekit!".utf8))) ?? []

    @Test func truncationAtEveryLengthIsInvalidInput() {
        for length in 0..<valid.count {
            #expect(status(Array(valid.prefix(length))) == .invalidInput, "length \(length)")
        }
    }

    @Test func randomBytesNeverCrash() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let count = Int.random(in: 0...64, using: &generator)
            var bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if !bytes.isEmpty && Bool.random(using: &generator) { bytes[0] = 0x94 }
            #expect(status(bytes) != .ok || retrieveAgrees(bytes))
        }
    }

    /// A random envelope that decodes must be internally consistent: re-storing round-trips.
    func retrieveAgrees(_ bytes: [UInt8]) -> Bool {
        guard case .success(let data) = retrieve(bytes) else { return false }
        return (try? retrieve(store(data)).get()) == data
    }

    /// No single bit flip outside the format tag's text (which the checksum does not cover) ever
    /// yields different data: it is refused, or (an ignored bit, such as the match-length nibble
    /// of the last LZ4 token) the data decodes intact.
    @Test func noSingleBitFlipReturnsWrongData() {
        let original = Array("hello, cachekit!".utf8)
        var refused = 0
        for index in 0..<(valid.count - 7) {
            for bit in 0..<8 {
                var corrupted = valid
                corrupted[index] ^= UInt8(1 << bit)
                switch retrieve(corrupted) {
                case .success(let data): #expect(data == original, "byte \(index) bit \(bit): \(corrupted.hex)")
                case .failure: refused += 1
                }
            }
        }
        #expect(refused >= (valid.count - 7) * 8 - 8)
    }

    @Test func wrongChecksumIsChecksumMismatch() {
        var corrupted = valid
        let checksumStart = 3 + Int(valid[2]) + 1
        corrupted[checksumStart] ^= 0x01
        #expect(status(corrupted) == .checksumMismatch)
    }

    @Test func bombIsRefusedBeforeAnyAllocation() {
        // 1 compressed byte claiming 512 MiB: over the ratio.
        let bomb: [UInt8] = [0x94, 0xc4, 0x01, 0x00, 0x98, 0, 0, 0, 0, 0, 0, 0, 0,
                             0xce, 0x20, 0x00, 0x00, 0x00, 0xa7] + Array("msgpack".utf8)
        #expect(status(bomb) == .decompressionBomb)
        // original_size over 512 MiB: too large, checked before the ratio.
        let huge: [UInt8] = [0x94, 0xc4, 0x01, 0x00, 0x98, 0, 0, 0, 0, 0, 0, 0, 0,
                             0xcf, 0, 0, 0, 1, 0, 0, 0, 0, 0xa7] + Array("msgpack".utf8)
        #expect(status(huge) == .tooLarge)
    }

    @Test func exactlyThousandToOnePassesTheRatioCheck() throws {
        // 1000 zero bytes: liblz4 writes a block well under 1000:1, so build the ratio by hand.
        let input = [UInt8](repeating: 0, count: 1000)
        let envelope = try store(input)
        #expect(try retrieve(envelope).get() == input)
        // One compressed byte with original_size 1000 is exactly 1000:1: passes the ratio check
        // and fails later (the block does not decode to 1000 bytes), not as a bomb.
        var oneByte: [UInt8] = [0x94, 0xc4, 0x01, 0x00, 0x98, 0, 0, 0, 0, 0, 0, 0, 0, 0xcd, 0x03, 0xe8, 0xa7]
        oneByte += Array("msgpack".utf8)
        #expect(status(oneByte) != .decompressionBomb)
        var overRatio = oneByte
        overRatio[15] = 0xe9 // 1001
        #expect(status(overRatio) == .decompressionBomb)
    }

    @Test func emptyCompressedDataIsABombEvenForSizeZero() {
        let empty: [UInt8] = [0x94, 0xc4, 0x00, 0x98, 0x2d, 0x06, 0xcc, 0x80, 0x05, 0x38, 0xcc, 0xd3,
                              0xcc, 0x94, 0xcc, 0xc2, 0x00, 0xa7] + Array("msgpack".utf8)
        #expect(status(empty) == .decompressionBomb)
    }

    @Test func wrongShapesAreInvalidInput() {
        let shapes: [[UInt8]] = [
            [0x93, 0xc4, 0x01, 0x00, 0x98, 0, 0, 0, 0, 0, 0, 0, 0, 0x00],                // 3 elements
            [0x95, 0xc4, 0x01, 0x00, 0x98, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0xa0, 0xc0],    // 5 elements
            [0x94, 0xa1, 0x00, 0x98, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0xa0],                 // str data
            [0x94, 0xc4, 0x01, 0x00, 0x97, 0, 0, 0, 0, 0, 0, 0, 0x00, 0xa0],              // 7-byte checksum
            [0x94, 0xc4, 0x01, 0x00, 0xc4, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0xa0],     // bin checksum
            [0x94, 0xc4, 0x01, 0x00, 0x98, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xa0],           // negative size
            [0x94, 0xc4, 0x01, 0x00, 0x98, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x00],           // int format
            [0x94, 0xc4, 0x01, 0x00, 0x98, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0xa1, 0xff],     // bad UTF-8
            [0x94, 0x91, 0xcd, 0x01, 0x00, 0x98, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0xa0],     // legacy 256
            [0x94, 0xc4, 0x01, 0x00, 0x98, 0, 0, 0, 0, 0, 0, 0, 0xcd, 0x01, 0x00, 0x00, 0xa0], // checksum 256
        ]
        for shape in shapes {
            #expect(status(shape) == .invalidInput, "\(shape)")
        }
    }

    @Test func trailingBytesAreRefused() {
        #expect(status(valid + [0x00]) == .invalidInput)
        #expect(status(valid) == .ok)
    }

    @Test func corruptBlockIsDecompressionFailed() throws {
        // A match offset pointing before the start of the output.
        let input = [UInt8](repeating: 0x41, count: 100)
        var envelope = try store(input)
        let blockLength = Int(envelope[2])
        // The first sequence's match offset follows the token and its one literal.
        envelope[3 + 2] = 0xff
        envelope[3 + 3] = 0xff
        #expect(blockLength > 4)
        #expect(status(envelope) == .decompressionFailed)
    }

    @Test func shortBlockIsSizeValidationWhenChecksumMatches() throws {
        // An envelope whose block decodes to fewer bytes than original_size, with the checksum of
        // what it decodes to: the size check is the one that fails.
        let input = Array("abc".utf8)
        var envelope = try store(input)
        // original_size (fixint 3) is the byte right before the format str (0xa7 "msgpack").
        let formatIndex = envelope.count - 8
        #expect(envelope[formatIndex] == 0xa7)
        envelope[formatIndex - 1] = 0x04
        #expect(status(envelope) == .sizeValidation)
    }
}
