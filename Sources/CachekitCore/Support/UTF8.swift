/// Whether `bytes` are well-formed UTF-8. Runs of ASCII are checked eight bytes at a time (every
/// string of every document passes through here); the standard decoder validates the rest.
public func validUTF8(_ bytes: UnsafeRawBufferPointer) -> Bool {
    guard let base = bytes.baseAddress else { return true }
    let count = bytes.count
    var index = 0
    while true {
        while index &+ 8 <= count,
              base.loadUnaligned(fromByteOffset: index, as: UInt64.self) & 0x8080_8080_8080_8080 == 0 {
            index &+= 8
        }
        while index < count, base.load(fromByteOffset: index, as: UInt8.self) < 0x80 { index &+= 1 }
        if index >= count { return true }
        // One non-ASCII scalar through the decoder, then back to the fast loop.
        guard let length = utf8ScalarLength(base, at: index, count: count) else { return false }
        index &+= length
    }
}

/// The length of the well-formed UTF-8 sequence starting at a non-ASCII byte, or nil.
private func utf8ScalarLength(_ base: UnsafeRawPointer, at index: Int, count: Int) -> Int? {
    let lead = base.load(fromByteOffset: index, as: UInt8.self)
    let length: Int
    switch lead {
    case 0xc2...0xdf: length = 2
    case 0xe0...0xef: length = 3
    case 0xf0...0xf4: length = 4
    default: return nil  // continuation byte, overlong 0xc0/0xc1, or over U+10FFFF
    }
    guard count &- index >= length else { return nil }
    let second = base.load(fromByteOffset: index &+ 1, as: UInt8.self)
    // The second byte's range excludes overlongs, surrogates and code points over U+10FFFF.
    switch lead {
    case 0xe0: guard (0xa0...0xbf).contains(second) else { return nil }
    case 0xed: guard (0x80...0x9f).contains(second) else { return nil }
    case 0xf0: guard (0x90...0xbf).contains(second) else { return nil }
    case 0xf4: guard (0x80...0x8f).contains(second) else { return nil }
    default: guard (0x80...0xbf).contains(second) else { return nil }
    }
    var offset = 2
    while offset < length {
        guard base.load(fromByteOffset: index &+ offset, as: UInt8.self) & 0xc0 == 0x80 else { return nil }
        offset &+= 1
    }
    return length
}

/// Copies `text`'s UTF-8 into `buffer` at `offset` and moves `offset` past it; the caller sized
/// `buffer` from the texts' `utf8.count`. For strings assembled on hot paths (AAD, cache keys):
/// String `+` and `append` cost hundreds of instructions a piece, this a memcpy.
@inline(__always)
func copyUTF8(_ text: String, into buffer: UnsafeMutableBufferPointer<UInt8>, at offset: inout Int) {
    let count = text.utf8.count
    guard let base = buffer.baseAddress, count <= buffer.count &- offset else { return }
    let target = UnsafeMutableBufferPointer(start: base + offset, count: count)
    if text.utf8.withContiguousStorageIfAvailable({ target.update(fromContentsOf: $0) }) == nil {
        _ = target.initialize(from: text.utf8)
    }
    offset &+= count
}
