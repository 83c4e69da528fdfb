import Glibc

/// The auto-mode key arguments canonicalized straight from their MessagePack bytes: the bytes
/// `Canonical.encode(.array([args, kwargs]), profile: .autoArguments)` produces from the decoded
/// trees, and the same failures in the same order, without building the trees (the trees were
/// two thirds of a cachekit_key_auto call: an allocation per value, a String per string).
///
/// Order of failures, as the tree path has them: decoding errors (truncation, bad bytes, bad
/// UTF-8, nesting past the decoder's limit, trailing bytes) are thrown as the bytes are read, args
/// before kwargs, each followed by its type check; canonical errors (ext types, map keys that are
/// not strings or repeat, nesting past the encoder's limit) are only thrown once both documents
/// decoded, the first in the encoder's order: depth first, a map's values in sorted key order.
enum CanonicalStream {
    /// What one item was, for its parent: its type name (for messages), its bytes when it is a
    /// string (a map key), and its first canonical error.
    private struct Item {
        var typeName: StaticString
        var string: Range<Int>? = nil
        var failure: CachekitError? = nil
    }

    /// Appends the canonical encoding of the document `bytes` (empty: an empty array or map, as
    /// `expected` says) to `writer`. Decoding and type errors are thrown; the first canonical
    /// error is returned.
    static func document(_ bytes: UnsafeRawBufferPointer, name: StaticString, expected: ExpectedRoot,
                         into writer: inout MessagePackEncoder) throws(CachekitError) -> CachekitError? {
        guard bytes.count > 0 else {
            if case .array = expected { writer.writeArrayHeader(0) } else { writer.writeMapHeader(0) }
            return nil
        }
        var reader = MessagePackDecoder(bytes)
        let root = try item(&reader, depth: 0, into: &writer)
        guard reader.isAtEnd else {
            throw CachekitError(.invalidInput, "\(reader.remaining) trailing bytes after the MessagePack document")
        }
        guard sameText(root.typeName, expected.typeName) else {
            throw CachekitError(.typeMismatch, "\(name) must be a MessagePack \(expected.typeName), got \(root.typeName)")
        }
        return root.failure
    }

    /// StaticString equality without building Strings (two per call cost 570 instructions).
    private static func sameText(_ a: StaticString, _ b: StaticString) -> Bool {
        a.utf8CodeUnitCount == b.utf8CodeUnitCount && memcmp(a.utf8Start, b.utf8Start, a.utf8CodeUnitCount) == 0
    }

    enum ExpectedRoot {
        case array, map
        var typeName: StaticString { self == .array ? "array" : "map" }
    }

    private static let depthLimit = MessagePackValue.defaultTreeDepthLimit

    /// One item at decoder nesting `depth` (the number of containers open around it). The
    /// encoder sees it one level deeper: both documents sit inside the [args, kwargs] array.
    private static func item(_ reader: inout MessagePackDecoder, depth: Int,
                             into writer: inout MessagePackEncoder) throws(CachekitError) -> Item {
        let at = reader.offset
        switch try reader.next() {
        case .nil:
            writer.writeNil()
            return Item(typeName: "nil")
        case .bool(let value):
            writer.writeBool(value)
            return Item(typeName: "bool")
        case .int(let value):
            if value >= 0 { writer.writeUnsigned(UInt64(value)) } else { writer.writeSigned(value) }
            return Item(typeName: "int")
        case .uint(let value):
            writer.writeUnsigned(value)
            return Item(typeName: "int")
        case .float32(let value):
            writer.writeFloat64(Double(value) == 0 ? 0.0 : Double(value))
            return Item(typeName: "float32")
        case .float64(let value):
            writer.writeFloat64(value == 0 ? 0.0 : value)
            return Item(typeName: "float64")
        case .str(let range):
            let text = UnsafeRawBufferPointer(rebasing: reader.buffer[range])
            guard validUTF8(text) else {
                throw CachekitError(.invalidUTF8, "MessagePack string at offset \(at) is not valid UTF-8")
            }
            writer.writeStringBytes(text)
            return Item(typeName: "str", string: range)
        case .bin(let range):
            writer.writeBinary(UnsafeRawBufferPointer(rebasing: reader.buffer[range]))
            return Item(typeName: "bin")
        case .ext(let type, _):
            return Item(typeName: "ext",
                        failure: CachekitError(.unsupportedValue, "MessagePack extension type \(type) cannot be canonicalized"))
        case .array(let count):
            if count > 0 { guard depth < depthLimit else { throw MessagePackValue.tooDeep(depthLimit) } }
            var failure: CachekitError? = depth &+ 1 < depthLimit ? nil : MessagePackValue.tooDeep(depthLimit)
            writer.writeArrayHeader(count)
            for _ in 0..<count {
                let element = try item(&reader, depth: depth &+ 1, into: &writer)
                if failure == nil { failure = element.failure }
            }
            return Item(typeName: "array", failure: failure)
        case .map(let count):
            if count > 0 { guard depth < depthLimit else { throw MessagePackValue.tooDeep(depthLimit) } }
            let failure = try map(&reader, count: count, depth: depth, into: &writer)
            return Item(typeName: "map", failure: depth &+ 1 < depthLimit ? failure : MessagePackValue.tooDeep(depthLimit))
        }
    }

    /// A map's entries, read in document order and written sorted by key bytes (Python's
    /// sorted() of str keys).
    private static func map(_ reader: inout MessagePackDecoder, count: Int, depth: Int,
                            into writer: inout MessagePackEncoder) throws(CachekitError) -> CachekitError? {
        // Plain data, so sorting moves no reference counts; failures (rare) live apart.
        struct Entry {
            var key: Range<Int>    // the key's text in the input
            var bytes: Range<Int>  // the entry's canonical key and value in `writer`
            var failure: Int       // index in `failures`, -1: none
        }
        // Entries are written as read and then put in key order in place: no encoder per map.
        // The header says `count`: if a key is not a string the map fails and its bytes are moot.
        writer.writeMapHeader(count)
        let regionStart = writer.bytes.count
        var entries: [Entry] = []
        entries.reserveCapacity(min(count, 64))  // bounded: a declared count is not trusted
        var failures: [CachekitError] = []
        var keyFailure: CachekitError?
        for _ in 0..<count {
            let start = writer.bytes.count
            let key = try item(&reader, depth: depth &+ 1, into: &writer)
            let value = try item(&reader, depth: depth &+ 1, into: &writer)
            guard let range = key.string else {
                if keyFailure == nil {
                    keyFailure = CachekitError(.invalidMapKey, "map keys must be strings, got \(key.typeName)")
                }
                continue
            }
            var failure = -1
            if let valueFailure = value.failure { failure = failures.count; failures.append(valueFailure) }
            entries.append(Entry(key: range, bytes: start..<writer.bytes.count, failure: failure))
        }
        if let keyFailure { return keyFailure }
        let buffer = reader.buffer
        func keyBytes(_ entry: Entry) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: buffer[entry.key]) }
        // Byte order (Python's str order for UTF-8), compared with memcmp.
        func order(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
            let common = min(a.count, b.count)
            if common > 0, let x = a.baseAddress, let y = b.baseAddress {
                let c = memcmp(x, y, common)
                if c != 0 { return Int(c) }
            }
            return a.count &- b.count
        }
        entries.sort { order(keyBytes($0), keyBytes($1)) < 0 }
        for index in entries.indices.dropFirst() where order(keyBytes(entries[index]), keyBytes(entries[index &- 1])) == 0 {
            return CachekitError(.invalidMapKey, "map has a duplicate key")
        }
        if zip(entries, entries.dropFirst()).contains(where: { $0.bytes.lowerBound > $1.bytes.lowerBound }) {
            writer.reorderTail(from: regionStart, as: entries.lazy.map(\.bytes))
        }
        return entries.first(where: { $0.failure >= 0 }).map { failures[$0.failure] }
    }
}
