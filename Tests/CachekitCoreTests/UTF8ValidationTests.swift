import Testing
@testable import CachekitCore

/// `validUTF8` (word-at-a-time ASCII, a hand-written scalar check) against the standard
/// library's UTF-8 decoder, the reference.
@Suite struct UTF8ValidationTests {
    static func reference(_ bytes: [UInt8]) -> Bool {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue: continue
            case .emptyInput: return true
            case .error: return false
            }
        }
    }

    static func ours(_ bytes: [UInt8]) -> Bool { bytes.withUnsafeBytes { validUTF8($0) } }

    @Test func everySequenceOfUpToThreeBytes() {
        var mismatches = 0
        for a in 0...255 {
            let one = [UInt8(a)]
            if Self.ours(one) != Self.reference(one) { mismatches += 1 }
            for b in 0...255 {
                let two = [UInt8(a), UInt8(b)]
                if Self.ours(two) != Self.reference(two) { mismatches += 1 }
                // Three-byte sequences only where the first byte can lead one (else the two-byte
                // prefix already decides).
                guard a >= 0xe0 && a <= 0xf4 else { continue }
                for c in 0...255 {
                    let three = [UInt8(a), UInt8(b), UInt8(c)]
                    if Self.ours(three) != Self.reference(three) { mismatches += 1 }
                }
            }
        }
        #expect(mismatches == 0)
    }

    @Test func everyFourByteSequenceWithAFourByteLead() {
        var mismatches = 0
        for a in 0xf0...0xf4 {
            for b in 0x80...0xbf {
                for c in [0x00, 0x7f, 0x80, 0xbf, 0xc0, 0xff] {
                    for d in 0...255 {
                        let four = [UInt8(a), UInt8(b), UInt8(c), UInt8(d)]
                        if Self.ours(four) != Self.reference(four) { mismatches += 1 }
                    }
                }
            }
        }
        #expect(mismatches == 0)
    }

    @Test func randomMixedTextAtEveryAlignment() {
        var generator = SystemRandomNumberGenerator()
        let pieces: [[UInt8]] = [
            Array("plain ascii text ".utf8), Array("é".utf8), Array("€".utf8), Array("𝄞".utf8),
            [0x80], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82], [0xff],
        ]
        var mismatches = 0
        for _ in 0..<50_000 {
            var bytes: [UInt8] = []
            for _ in 0..<Int.random(in: 0...12, using: &generator) {
                bytes += pieces[Int.random(in: 0..<pieces.count, using: &generator)]
            }
            if Self.ours(bytes) != Self.reference(bytes) { mismatches += 1 }
        }
        #expect(mismatches == 0)
        #expect(Self.ours([]) && Self.ours(Array(String(repeating: "x", count: 1000).utf8)))
    }
}
