import CLZ4

/// LZ4 block format (no frame, no size prefix) through liblz4. Sizes are checked before they
/// reach liblz4's `int` parameters.
public enum LZ4Block {
    /// Worst-case block size for `sourceCount` bytes, or nil over the 512 MiB limit.
    public static func compressBound(_ sourceCount: Int) -> Int? {
        guard sourceCount >= 0, sourceCount <= Limits.maxUncompressedSize else { return nil }
        return Int(LZ4_compressBound(Int32(sourceCount)))
    }

    /// Compresses `source` into `destination`; returns the block length.
    public static func compress(
        _ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer
    ) throws(CachekitError) -> Int {
        guard source.count <= Limits.maxUncompressedSize else {
            throw CachekitError(.tooLarge, "input of \(source.count) bytes exceeds the 512 MiB limit")
        }
        guard let bound = compressBound(source.count), destination.count >= bound else {
            throw CachekitError(.bufferTooSmall,
                                "LZ4 output needs up to \(compressBound(source.count) ?? 0) bytes, got \(destination.count)")
        }
        let written = LZ4_compress_default(
            source.baseAddress.map { $0.assumingMemoryBound(to: CChar.self) } ?? emptySource,
            destination.baseAddress?.assumingMemoryBound(to: CChar.self),
            Int32(source.count), Int32(clamping: destination.count))
        guard written > 0 else { throw CachekitError(.compressionFailed, "LZ4_compress_default failed") }
        return Int(written)
    }

    /// Decompresses one block into `destination`; returns the decoded length. Malformed blocks
    /// and output beyond `destination.count` are reported, never read or written out of bounds.
    public static func decompress(
        _ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer
    ) throws(CachekitError) -> Int {
        guard source.count <= Limits.maxCompressedSize, destination.count <= Limits.maxUncompressedSize else {
            throw CachekitError(.tooLarge, "LZ4 input or output exceeds the 512 MiB limit")
        }
        guard let src = source.baseAddress, source.count > 0 else {
            throw CachekitError(.decompressionFailed, "empty LZ4 block")
        }
        let decoded = LZ4_decompress_safe(
            src.assumingMemoryBound(to: CChar.self),
            (destination.baseAddress ?? UnsafeMutableRawPointer(mutating: src)).assumingMemoryBound(to: CChar.self),
            Int32(source.count), Int32(destination.count))
        guard decoded >= 0 else {
            throw CachekitError(.decompressionFailed,
                                "malformed LZ4 block (\(source.count) bytes) or output over \(destination.count) bytes")
        }
        return Int(decoded)
    }

    /// The size of a block that stores `count` bytes as literals only (one sequence, no match).
    public static func literalsOnlySize(_ count: Int) -> Int {
        count < 15 ? 1 &+ count : 2 &+ (count &- 15) / 255 &+ count
    }

    /// Writes `source` as a literals-only block (what an encoder emits for incompressible data)
    /// into `destination`, which must hold `literalsOnlySize(source.count)` bytes; returns its size.
    public static func writeLiteralsOnly(
        _ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer
    ) -> Int? {
        let count = source.count
        let size = literalsOnlySize(count)
        guard destination.count >= size, let out = destination.baseAddress else { return nil }
        var cursor = 0
        if count < 15 {
            out.storeBytes(of: UInt8(count << 4), toByteOffset: 0, as: UInt8.self)
            cursor = 1
        } else {
            out.storeBytes(of: 0xf0, toByteOffset: 0, as: UInt8.self)
            cursor = 1
            var rest = count &- 15
            while rest >= 255 {
                out.storeBytes(of: 0xff, toByteOffset: cursor, as: UInt8.self)
                cursor &+= 1
                rest &-= 255
            }
            out.storeBytes(of: UInt8(rest), toByteOffset: cursor, as: UInt8.self)
            cursor &+= 1
        }
        if let src = source.baseAddress, count > 0 {
            (out + cursor).copyMemory(from: src, byteCount: count)
        }
        return size
    }

    /// Whether `block` is the literals-only block of `decodedCount` bytes.
    public static func isLiteralsOnly(_ block: UnsafeRawBufferPointer, decodedCount: Int) -> Bool {
        guard block.count == literalsOnlySize(decodedCount), let token = block.first else { return false }
        var literals = Int(token >> 4)
        var index = 1
        if literals == 15 {
            while index < block.count {
                let byte = block[index]
                index &+= 1
                literals &+= Int(byte)
                if byte != 255 { break }
            }
        }
        return literals == decodedCount && index &+ literals == block.count
    }

    /// liblz4 wants a valid pointer even for an empty input.
    nonisolated(unsafe) private static let emptySource: UnsafePointer<CChar> = {
        let pointer = UnsafeMutablePointer<CChar>.allocate(capacity: 1)
        pointer.initialize(to: 0)
        return UnsafePointer(pointer)
    }()
}
