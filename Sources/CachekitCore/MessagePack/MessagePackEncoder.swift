/// Appends MessagePack items in their shortest encodings (as rmp and msgpack-python write them).
public struct MessagePackEncoder {
    public private(set) var bytes: [UInt8] = []

    public init(reservingCapacity capacity: Int = 64) { bytes.reserveCapacity(capacity) }

    public mutating func writeNil() { bytes.append(0xc0) }
    public mutating func writeBool(_ value: Bool) { bytes.append(value ? 0xc3 : 0xc2) }

    public mutating func writeUnsigned(_ value: UInt64) {
        MessagePackEncoder.unsigned(value) { bytes.append($0) }
    }

    /// Non-negative values use the unsigned encodings, negative ones the shortest signed one.
    public mutating func writeSigned(_ value: Int64) {
        if value >= 0 { writeUnsigned(UInt64(value)); return }
        switch value {
        case -32 ... -1: bytes.append(UInt8(bitPattern: Int8(value)))
        case -128 ... -33: bytes.append(0xd0); bytes.append(UInt8(bitPattern: Int8(value)))
        case -32768 ... -129: bytes.append(0xd1); appendBigEndian(UInt16(bitPattern: Int16(value)))
        case -2_147_483_648 ... -32769: bytes.append(0xd2); appendBigEndian(UInt32(bitPattern: Int32(value)))
        default: bytes.append(0xd3); appendBigEndian(UInt64(bitPattern: value))
        }
    }

    public mutating func writeFloat64(_ value: Double) {
        bytes.append(0xcb); appendBigEndian(value.bitPattern)
    }

    public mutating func writeFloat32(_ value: Float) {
        bytes.append(0xca); appendBigEndian(value.bitPattern)
    }

    public mutating func writeString(_ value: String) {
        var copy = value
        copy.withUTF8 { utf8 in writeStringBytes(UnsafeRawBufferPointer(utf8)) }
    }

    public mutating func writeStringBytes(_ utf8: UnsafeRawBufferPointer) {
        writeStringHeader(utf8.count)
        append(utf8)
    }

    public mutating func writeStringHeader(_ count: Int) {
        switch count {
        case 0...31: bytes.append(0xa0 | UInt8(count))
        case 32...0xff: bytes.append(0xd9); bytes.append(UInt8(count))
        case 0x100...0xffff: bytes.append(0xda); appendBigEndian(UInt16(count))
        default: bytes.append(0xdb); appendBigEndian(UInt32(truncatingIfNeeded: count))
        }
    }

    public mutating func writeBinary(_ data: UnsafeRawBufferPointer) {
        writeBinaryHeader(data.count)
        append(data)
    }

    public mutating func writeBinaryHeader(_ count: Int) {
        MessagePackEncoder.binaryHeader(count) { bytes.append($0) }
    }

    public mutating func writeArrayHeader(_ count: Int) {
        switch count {
        case 0...15: bytes.append(0x90 | UInt8(count))
        case 16...0xffff: bytes.append(0xdc); appendBigEndian(UInt16(count))
        default: bytes.append(0xdd); appendBigEndian(UInt32(truncatingIfNeeded: count))
        }
    }

    public mutating func writeMapHeader(_ count: Int) {
        switch count {
        case 0...15: bytes.append(0x80 | UInt8(count))
        case 16...0xffff: bytes.append(0xde); appendBigEndian(UInt16(count))
        default: bytes.append(0xdf); appendBigEndian(UInt32(truncatingIfNeeded: count))
        }
    }

    public mutating func writeExtension(type: Int8, data: UnsafeRawBufferPointer) {
        let typeByte = UInt8(bitPattern: type)
        switch data.count {
        case 1: bytes.append(0xd4)
        case 2: bytes.append(0xd5)
        case 4: bytes.append(0xd6)
        case 8: bytes.append(0xd7)
        case 16: bytes.append(0xd8)
        case 0...0xff: bytes.append(0xc7); bytes.append(UInt8(data.count))
        case 0x100...0xffff: bytes.append(0xc8); appendBigEndian(UInt16(data.count))
        default: bytes.append(0xc9); appendBigEndian(UInt32(truncatingIfNeeded: data.count))
        }
        bytes.append(typeByte)
        append(data)
    }

    /// Appends already-encoded MessagePack.
    public mutating func writeRaw(_ raw: UnsafeRawBufferPointer) { append(raw) }

    /// Rewrites everything from `start` on as `pieces` of it (ranges that tile it) in the order
    /// given: a map's entries, written as read, put in sorted order in place.
    mutating func reorderTail<Pieces: Sequence<Range<Int>>>(from start: Int, as pieces: Pieces) {
        let total = bytes.count &- start
        guard start >= 0, total > 0 else { return }
        withUnsafeTemporaryAllocation(byteCount: total, alignment: 1) { scratch in
            bytes.withUnsafeMutableBytes { all in
                scratch.copyMemory(from: UnsafeRawBufferPointer(rebasing: all[start...]))
                var at = start
                for piece in pieces {
                    let source = UnsafeRawBufferPointer(rebasing: scratch[(piece.lowerBound &- start)..<(piece.upperBound &- start)])
                    UnsafeMutableRawBufferPointer(rebasing: all[at..<(at &+ source.count)]).copyMemory(from: source)
                    at &+= source.count
                }
            }
        }
    }

    /// Array.append(contentsOf:) of a raw buffer goes byte by byte; of a typed one it is a memcpy.
    @inline(__always)
    private mutating func append(_ raw: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: raw.assumingMemoryBound(to: UInt8.self))
    }

    mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
        var big = value.bigEndian
        withUnsafeBytes(of: &big) { bytes.append(contentsOf: $0) }
    }

    /// The shortest encoding of an unsigned integer, emitted byte by byte.
    @inline(__always)
    public static func unsigned(_ value: UInt64, _ emit: (UInt8) -> Void) {
        switch value {
        case 0...0x7f:
            emit(UInt8(value))
        case 0x80...0xff:
            emit(0xcc); emit(UInt8(value))
        case 0x100...0xffff:
            emit(0xcd); emit(UInt8(value >> 8)); emit(UInt8(value & 0xff))
        case 0x1_0000...0xffff_ffff:
            emit(0xce)
            for shift in stride(from: 24, through: 0, by: -8) { emit(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
        default:
            emit(0xcf)
            for shift in stride(from: 56, through: 0, by: -8) { emit(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
        }
    }

    /// The shortest bin header for `count` bytes (bin8/16/32), emitted byte by byte.
    @inline(__always)
    public static func binaryHeader(_ count: Int, _ emit: (UInt8) -> Void) {
        switch count {
        case 0...0xff:
            emit(0xc4); emit(UInt8(count))
        case 0x100...0xffff:
            emit(0xc5); emit(UInt8(count >> 8)); emit(UInt8(count & 0xff))
        default:
            let length = UInt32(truncatingIfNeeded: count)
            emit(0xc6)
            emit(UInt8(length >> 24)); emit(UInt8((length >> 16) & 0xff))
            emit(UInt8((length >> 8) & 0xff)); emit(UInt8(length & 0xff))
        }
    }
}
