import Testing
@testable import CachekitCore

/// `Envelope.parseCanonical` reads cachekit-core's own layout straight from the bytes and
/// `retrieve(taking:)` checks a literals-only block in place: neither may accept what the generic
/// reading refuses, read other fields, or fail otherwise than `retrieve`.
@Suite struct EnvelopeCanonicalParseTests {
    /// Envelopes of every shape the fast path meets or must pass on: literals-only and compressed
    /// blocks of several sizes (bin8 and bin16 headers, original_size as fixint, uint8, uint16,
    /// uint32), a long format (str8), and hand-made non-canonical encodings.
    static let envelopes: [[UInt8]] = {
        var out: [[UInt8]] = []
        var state: UInt64 = 0x9e37_79b9_7f4a_7c15
        func random(_ count: Int) -> [UInt8] {
            (0..<count).map { _ in
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return UInt8(truncatingIfNeeded: state >> 56)
            }
        }
        for size in [0, 1, 50, 100, 127, 128, 300, 1024, 70_000] {
            out.append((try? store(random(size))) ?? [])                     // incompressible: literals only
            out.append((try? store([UInt8](repeating: 0x61, count: size))) ?? []) // compressible
        }
        out.append((try? store(random(40), format: String(repeating: "f", count: 40))) ?? [])
        // The generic reader's other encodings: a checksum byte as uint8 below 0x80, original_size
        // as a signed int, the format as str16, a legacy integer array.
        let small = (try? store(Array("hi".utf8))) ?? []
        out.append(small)
        if let at = small.firstIndex(of: 0x98) {
            var cc = small
            cc.replaceSubrange((at + 1)...(at + 1), with: [0xcc, small[at + 1]])
            out.append(cc)
        }
        out.append([0x94, 0xc4, 0x03, 0x20, 0x68, 0x69, 0x98, 0, 0, 0, 0, 0, 0, 0, 0, 0xd0, 0x02, 0xa1, 0x6d])
        out.append([0x94, 0xc4, 0x03, 0x20, 0x68, 0x69, 0x98, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0xda, 0x00, 0x01, 0x6d])
        out.append([0x94, 0x93, 0x20, 0x68, 0x69, 0x98, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0xa1, 0x6d])
        return out.filter { !$0.isEmpty }
    }()

    /// Every envelope, its truncations and single-byte changes within its first 40 and last 40
    /// bytes (the structure; a change inside a long block is data), and a trailing byte.
    static func variants(_ envelope: [UInt8]) -> [[UInt8]] {
        var out = [envelope]
        let offsets = Set(Array(0..<min(40, envelope.count)) + Array(max(0, envelope.count - 40)..<envelope.count))
        for offset in offsets.sorted() {
            out.append(Array(envelope[..<offset]))
            for change: UInt8 in [0x01, 0x80, 0xff] {
                var changed = envelope
                changed[offset] ^= change
                out.append(changed)
            }
        }
        out.append(envelope + [0xc0])
        return out
    }

    static func fields(_ header: borrowing Envelope.Header) -> [Int] {
        [header.compressedRange.lowerBound, header.compressedRange.upperBound, header.legacyCompressed == nil ? 0 : 1,
         Int(truncatingIfNeeded: header.checksum), Int(truncatingIfNeeded: header.originalSize),
         header.format.lowerBound, header.format.upperBound]
    }

    @Test func theFastPathReadsCachekitCoresLayout() throws {
        for envelope in Self.envelopes.prefix(18) {
            let canonical = envelope.withUnsafeBytes { Envelope.parseCanonical($0) != nil }
            #expect(canonical, "an envelope Envelope.store wrote fell to the generic parse")
        }
    }

    @Test func whatTheFastPathAcceptsTheGenericParseReadsAlike() throws {
        var accepted = 0, passedOn = 0
        for envelope in Self.envelopes {
            for variant in Self.variants(envelope) {
                variant.withUnsafeBytes { raw in
                    guard let fast = Envelope.parseCanonical(raw) else {
                        passedOn += 1
                        return
                    }
                    accepted += 1
                    do throws(CachekitError) {
                        let generic = try Envelope.parseTokens(raw)
                        #expect(Self.fields(fast) == Self.fields(generic))
                    } catch {
                        Issue.record("the fast path accepted what the generic parse refuses: \(error.message)")
                    }
                }
            }
        }
        #expect(accepted > 100 && passedOn > 100)
    }

    @Test func retrieveTakingFailsAndSucceedsAsRetrieve() throws {
        for envelope in Self.envelopes {
            for variant in Self.variants(envelope) {
                let expected = retrieve(variant)
                let taken: Result<[UInt8], CachekitError> = variant.withUnsafeBytes { raw in
                    do throws(CachekitError) {
                        return .success(try Envelope.retrieve(taking: OwnedBytes(copying: raw)).array)
                    } catch {
                        return .failure(error)
                    }
                }
                switch (expected, taken) {
                case (.success(let a), .success(let b)): #expect(a == b)
                case (.failure(let a), .failure(let b)): #expect(a.status == b.status && a.message == b.message)
                case (.success, .failure(let b)):
                    Issue.record("retrieve(taking:) refused what retrieve reads (\(variant.count) bytes): \(b.message)")
                case (.failure(let a), .success):
                    Issue.record("retrieve(taking:) read what retrieve refuses (\(variant.count) bytes): \(a.message)")
                }
            }
        }
    }

    /// A literals-only envelope is turned into its data in its own allocation; the bytes past the
    /// data (the block header, the checksum, the size and the format) are wiped, not left behind.
    @Test func literalsOnlyDataIsMovedInPlaceAndTheRestWiped() throws {
        let data = (0..<100).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        let envelope = try store(data)
        let original = try withBytes(envelope) { raw throws(CachekitError) in try OwnedBytes(copying: raw) }
        let base = original.base
        let result = try Envelope.retrieve(taking: original)
        #expect(result.base == base)
        #expect(result.array == data)
        let rest = UnsafeBufferPointer(start: result.base + data.count, count: envelope.count - data.count)
        #expect(rest.allSatisfy { $0 == 0 })
    }
}
