import Glibc

/// The ByteStorage envelope of cachekit-core: a MessagePack array
/// `[compressed_data, checksum, original_size, format]`, where compressed_data is an LZ4 block
/// (bin; legacy writers used an array of integers), checksum is xxHash3-64 of the uncompressed
/// data as 8 big-endian integers, original_size a uint and format a str.
public enum Envelope {
    /// The parsed fields of an envelope, before any size, ratio or checksum check.
    public struct Header: ~Copyable {
        /// compressed_data when stored as bin: a range of the envelope.
        public let compressedRange: Range<Int>
        /// compressed_data when stored as the legacy array of integers: its bytes.
        public let legacyCompressed: OwnedBytes?
        public let checksum: UInt64
        public let originalSize: UInt64
        /// The format tag: a range of the envelope holding valid UTF-8.
        public let format: Range<Int>

        public var compressedCount: Int {
            switch legacyCompressed {
            case .some(let bytes): return bytes.count
            case .none: return compressedRange.count
            }
        }
    }

    public struct Retrieved: ~Copyable {
        public var data: OwnedBytes
        /// The format tag: a range of the envelope.
        public let format: Range<Int>

        public consuming func takeData() -> OwnedBytes { data }
    }

    public static let defaultFormat = "msgpack"
    public static let maxFormatLength = 255

    // MARK: Store

    /// Wraps `data` in an envelope exactly as cachekit-core writes it.
    public static func store(
        _ data: UnsafeRawBufferPointer, format: UnsafeRawBufferPointer
    ) throws(CachekitError) -> OwnedBytes {
        guard data.count <= Limits.maxUncompressedSize else {
            throw CachekitError(.tooLarge, "value of \(data.count) bytes exceeds the 512 MiB limit")
        }
        guard format.count >= 1, format.count <= maxFormatLength, validUTF8(format) else {
            throw CachekitError(.invalidArgument, "format must be 1..255 bytes of UTF-8")
        }
        guard let bound = LZ4Block.compressBound(data.count) else {
            throw CachekitError(.tooLarge, "value of \(data.count) bytes exceeds the 512 MiB limit")
        }
        // 0x94 + bin header, the block, 0x98 + 8 x (0xcc xx), uint32, str header + format.
        let headerGuess = 1 &+ binHeaderLength(bound)
        let capacity = headerGuess &+ bound &+ 17 &+ 5 &+ 2 &+ format.count
        var out = try OwnedBytes(uninitializedCount: capacity)
        let base = out.base
        let blockArea = UnsafeMutableRawBufferPointer(start: base + headerGuess, count: bound)
        var compressedCount = try LZ4Block.compress(data, into: blockArea)
        // When compression saves nothing, store the literals-only block, as cachekit-core's
        // encoder does: the same size or smaller, and byte-identical to the reference writer.
        if compressedCount >= LZ4Block.literalsOnlySize(data.count),
           !LZ4Block.isLiteralsOnly(UnsafeRawBufferPointer(rebasing: blockArea[0..<compressedCount]),
                                    decodedCount: data.count),
           let literalCount = LZ4Block.writeLiteralsOnly(data, into: blockArea) {
            compressedCount = literalCount
        }

        // Compress first, then write the shortest bin header; slide the block down if it shrank.
        let headerLength = 1 &+ binHeaderLength(compressedCount)
        if headerLength != headerGuess {
            (base + headerLength).update(from: base + headerGuess, count: compressedCount)
        }
        var cursor = 0
        base[0] = 0x94
        cursor = 1
        MessagePackEncoder.binaryHeader(compressedCount) { byte in
            base[cursor] = byte
            cursor &+= 1
        }
        cursor &+= compressedCount

        let checksum = XXH3.hash64(data)
        base[cursor] = 0x98
        cursor &+= 1
        for shift in stride(from: 56, through: 0, by: -8) {
            let byte = UInt8(truncatingIfNeeded: checksum >> UInt64(shift))
            if byte >= 0x80 {
                base[cursor] = 0xcc
                cursor &+= 1
            }
            base[cursor] = byte
            cursor &+= 1
        }
        cursor = writeUnsigned(UInt64(data.count), to: base, at: cursor)
        if format.count <= 31 {
            base[cursor] = 0xa0 | UInt8(format.count)
            cursor &+= 1
        } else {
            base[cursor] = 0xd9
            base[cursor &+ 1] = UInt8(format.count)
            cursor &+= 2
        }
        if let formatBase = format.baseAddress {
            (base + cursor).update(from: formatBase.assumingMemoryBound(to: UInt8.self), count: format.count)
        }
        cursor &+= format.count
        out.truncate(to: cursor)
        return out
    }

    // MARK: Retrieve

    /// Parses an envelope's structure (check 2 of cachekit-core's order) without validating sizes.
    /// Trailing bytes after the four fields are refused.
    public static func parse(_ envelope: UnsafeRawBufferPointer) throws(CachekitError) -> Header {
        if let header = parseCanonical(envelope) { return header }
        return try parseTokens(envelope)
    }

    /// `parse` through the generic MessagePack decoder: every encoding it allows, its messages.
    static func parseTokens(_ envelope: UnsafeRawBufferPointer) throws(CachekitError) -> Header {
        var reader = MessagePackDecoder(envelope)
        guard case .array(4) = try reader.next() else {
            throw CachekitError(.invalidInput, "envelope is not a MessagePack array of 4 elements")
        }
        var compressedRange: Range<Int> = 0..<0
        var legacy: OwnedBytes? = nil
        switch try reader.next() {
        case .bin(let range):
            compressedRange = range
        case .array(let count):
            legacy = try readLegacyBytes(&reader, count: count)
        default:
            throw CachekitError(.invalidInput, "envelope compressed_data is neither bin nor an array of bytes")
        }
        guard case .array(8) = try reader.next() else {
            throw CachekitError(.invalidInput, "envelope checksum is not an array of 8 integers")
        }
        var checksum: UInt64 = 0
        for _ in 0..<8 {
            checksum = (checksum << 8) | UInt64(try readByteElement(&reader, field: "checksum"))
        }
        let originalSize: UInt64
        do {
            originalSize = try reader.readUnsigned()
        } catch {
            throw CachekitError(.invalidInput, "envelope original_size is not an unsigned integer")
        }
        guard case .str(let format) = try reader.next() else {
            throw CachekitError(.invalidInput, "envelope format is not a string")
        }
        guard validUTF8(UnsafeRawBufferPointer(rebasing: envelope[format])) else {
            throw CachekitError(.invalidInput, "envelope format is not valid UTF-8")
        }
        guard reader.isAtEnd else {
            throw CachekitError(.invalidInput, "\(reader.remaining) trailing bytes after the envelope")
        }
        return Header(compressedRange: compressedRange, legacyCompressed: legacy,
                      checksum: checksum, originalSize: originalSize, format: format)
    }

    /// Validates and decodes an envelope, in cachekit-core's order of checks.
    public static func retrieve(_ envelope: UnsafeRawBufferPointer) throws(CachekitError) -> Retrieved {
        let header = try checkedHeader(envelope)
        return Retrieved(data: try decode(envelope, header), format: header.format)
    }

    /// `retrieve`'s data from an envelope the caller hands over (a decrypted one), with the same
    /// checks in the same order. A literals-only block (how cachekit-core stores what LZ4 cannot
    /// shrink, small values mostly) holds the data verbatim: it is checked in place and moved to
    /// the front of the envelope's own allocation, the rest wiped, instead of decompressed into a
    /// second one (liblz4 would copy the same bytes; the allocation and call were a tenth of a
    /// 100-byte secure L1 hit). Any other envelope is decoded and then wiped.
    static func retrieve(taking envelope: consuming OwnedBytes) throws(CachekitError) -> OwnedBytes {
        do throws(CachekitError) {
            let header = try checkedHeader(envelope.bytes)
            let size = Int(header.originalSize)  // <= 512 MiB, checked
            let block = UnsafeRawBufferPointer(rebasing: envelope.bytes[header.compressedRange])
            // A token without a match length (low nibble 0) and literals to the block's end: liblz4
            // decodes exactly these bytes; any other block goes to liblz4 to judge.
            guard header.legacyCompressed == nil, let token = block.first, token & 0x0f == 0,
                  LZ4Block.isLiteralsOnly(block, decodedCount: size) else {
                let data = try decode(envelope.bytes, header)
                wipe(envelope.mutableBytes)
                return data
            }
            let start = header.compressedRange.upperBound &- size
            guard XXH3.hash64(UnsafeRawBufferPointer(rebasing: envelope.bytes[start..<(start &+ size)])) == header.checksum else {
                throw CachekitError(.checksumMismatch, "xxHash3-64 of the decoded data does not match the envelope")
            }
            let base = envelope.base
            base.update(from: base + start, count: size)
            wipe(UnsafeMutableRawBufferPointer(rebasing: envelope.mutableBytes[size...]))
            envelope.truncate(to: size)
            return envelope
        } catch {
            wipe(envelope.mutableBytes)
            throw error
        }
    }

    /// The parsed header after cachekit-core's size and ratio checks, before decompression.
    private static func checkedHeader(_ envelope: UnsafeRawBufferPointer) throws(CachekitError) -> Header {
        guard envelope.count <= Limits.maxCompressedSize else {
            throw CachekitError(.tooLarge, "envelope of \(envelope.count) bytes exceeds the 512 MiB limit")
        }
        let header = try parse(envelope)
        let compressedCount = header.compressedCount
        guard compressedCount <= Limits.maxCompressedSize else {
            throw CachekitError(.tooLarge, "compressed data of \(compressedCount) bytes exceeds the 512 MiB limit")
        }
        guard header.originalSize <= UInt64(Limits.maxUncompressedSize) else {
            throw CachekitError(.tooLarge, "original_size \(header.originalSize) exceeds the 512 MiB limit")
        }
        guard compressedCount > 0 else {
            throw CachekitError(.decompressionBomb, "empty compressed data")
        }
        let (allowed, overflow) = UInt64(compressedCount).multipliedReportingOverflow(
            by: UInt64(Limits.maxCompressionRatio))
        guard !overflow, header.originalSize <= allowed else {
            throw CachekitError(.decompressionBomb,
                                "original_size \(header.originalSize) is over 1000x the \(compressedCount) compressed bytes")
        }
        return header
    }

    /// The data of a checked envelope, decompressed and verified against its checksum and size.
    private static func decode(_ envelope: UnsafeRawBufferPointer, _ header: borrowing Header) throws(CachekitError) -> OwnedBytes {
        let originalSize = Int(header.originalSize) // <= 512 MiB, checked by checkedHeader
        var output = try OwnedBytes(uninitializedCount: originalSize)
        let decoded: Int
        switch header.legacyCompressed {
        case .some(let legacy):
            decoded = try LZ4Block.decompress(legacy.bytes, into: output.mutableBytes)
        case .none:
            decoded = try LZ4Block.decompress(UnsafeRawBufferPointer(rebasing: envelope[header.compressedRange]),
                                              into: output.mutableBytes)
        }
        output.truncate(to: decoded)
        guard XXH3.hash64(output.bytes) == header.checksum else {
            throw CachekitError(.checksumMismatch, "xxHash3-64 of the decoded data does not match the envelope")
        }
        guard decoded == originalSize else {
            throw CachekitError(.sizeValidation, "decoded \(decoded) bytes, envelope says \(originalSize)")
        }
        return output
    }

    /// The envelope as cachekit-core writes it (compressed_data a bin, checksum bytes as fixint
    /// or uint8, original_size a uint, format a fixstr or str8), read straight from its bytes; nil
    /// for any other encoding, which `parse` then reads or refuses token by token with its own
    /// messages. Written out by hand: a token per field through the generic decoder cost a tenth of
    /// a 100-byte secure L1 hit. Whatever it accepts, the generic reading accepts with the same fields
    /// (`EnvelopeCanonicalParseTests`).
    static func parseCanonical(_ envelope: UnsafeRawBufferPointer) -> Header? {
        let end = envelope.count
        guard end >= 2, envelope[0] == 0x94 else { return nil }
        var at = 1
        guard let binLength = bigEndian(envelope, at: at &+ 1, width: binWidth(envelope[at])) else { return nil }
        at &+= 1 &+ binWidth(envelope[at])
        guard binLength <= UInt64(end &- at) else { return nil }
        let compressedRange = at..<(at &+ Int(binLength))
        at = compressedRange.upperBound
        guard at < end, envelope[at] == 0x98 else { return nil }
        at &+= 1
        var checksum: UInt64 = 0
        for _ in 0..<8 {
            guard at < end else { return nil }
            var byte = envelope[at]
            at &+= 1
            if byte >= 0x80 {
                guard byte == 0xcc, at < end else { return nil }
                byte = envelope[at]
                at &+= 1
            }
            checksum = checksum << 8 | UInt64(byte)
        }
        guard at < end else { return nil }
        let sizeTag = envelope[at]
        let originalSize: UInt64
        if sizeTag < 0x80 {
            originalSize = UInt64(sizeTag)
            at &+= 1
        } else {
            guard (0xcc...0xcf).contains(sizeTag), let value = bigEndian(envelope, at: at &+ 1, width: 1 << (sizeTag &- 0xcc)) else { return nil }
            originalSize = value
            at &+= 1 &+ (1 << (sizeTag &- 0xcc))
        }
        guard at < end else { return nil }
        let formatTag = envelope[at]
        let formatLength: Int
        if formatTag & 0xe0 == 0xa0 {
            formatLength = Int(formatTag & 0x1f)
            at &+= 1
        } else {
            guard formatTag == 0xd9, at &+ 1 < end else { return nil }
            formatLength = Int(envelope[at &+ 1])
            at &+= 2
        }
        let format = UnsafeRawBufferPointer(rebasing: envelope[at..<end])
        guard formatLength == format.count, isDefaultFormat(format) || validUTF8(format) else { return nil }
        return Header(compressedRange: compressedRange, legacyCompressed: nil, checksum: checksum,
                      originalSize: originalSize, format: at..<end)
    }

    private static let defaultFormatUTF8: StaticString = "msgpack"

    /// Whether `format` is "msgpack" (valid UTF-8 without a scan).
    @inline(__always)
    private static func isDefaultFormat(_ format: UnsafeRawBufferPointer) -> Bool {
        let name = defaultFormatUTF8
        guard format.count == name.utf8CodeUnitCount, let base = format.baseAddress else { return false }
        return memcmp(base, name.utf8Start, format.count) == 0
    }

    /// The length bytes of a bin8/16/32 header tag, 0 for any other tag.
    @inline(__always)
    private static func binWidth(_ tag: UInt8) -> Int {
        switch tag {
        case 0xc4: return 1
        case 0xc5: return 2
        case 0xc6: return 4
        default: return 0
        }
    }

    /// The `width`-byte (1...8) big-endian integer at `at`, nil when it does not fit.
    @inline(__always)
    private static func bigEndian(_ bytes: UnsafeRawBufferPointer, at: Int, width: Int) -> UInt64? {
        guard width >= 1, width <= 8, at >= 0, width <= bytes.count &- at else { return nil }
        var value: UInt64 = 0
        for index in at..<(at &+ width) { value = value << 8 | UInt64(bytes[index]) }
        return value
    }

    /// Overwrites decrypted bytes before they are freed (explicit_bzero: the compiler keeps it).
    private static func wipe(_ bytes: UnsafeMutableRawBufferPointer) {
        if let base = bytes.baseAddress { explicit_bzero(base, bytes.count) }
    }

    // MARK: Helpers

    private static func readLegacyBytes(
        _ reader: inout MessagePackDecoder, count: Int
    ) throws(CachekitError) -> OwnedBytes {
        let bytes = try OwnedBytes(uninitializedCount: count)
        for index in 0..<count {
            bytes.base[index] = try readByteElement(&reader, field: "compressed_data")
        }
        return bytes
    }

    private static func readByteElement(
        _ reader: inout MessagePackDecoder, field: StaticString
    ) throws(CachekitError) -> UInt8 {
        if let byte = reader.readByteFast() { return byte }
        guard case .uint(let value) = try reader.next(), value <= 0xff else {
            throw CachekitError(.invalidInput, "envelope \(field) holds a value that is not a byte")
        }
        return UInt8(value)
    }

    private static func binHeaderLength(_ count: Int) -> Int {
        count <= 0xff ? 2 : (count <= 0xffff ? 3 : 5)
    }

    private static func writeUnsigned(_ value: UInt64, to base: UnsafeMutablePointer<UInt8>, at start: Int) -> Int {
        var cursor = start
        MessagePackEncoder.unsigned(value) { byte in
            base[cursor] = byte
            cursor &+= 1
        }
        return cursor
    }
}
