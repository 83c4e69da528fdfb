import Glibc
import Synchronization

/// The CK v3 frame cachekit-py stores in its default mode:
/// `"CK" | 0x03 | u32be(header length) | header (UTF-8 JSON) | payload`.
public enum Frame {
    public static let magic: [UInt8] = [0x43, 0x4b] // "CK"
    public static let version: UInt8 = 3
    public static let prefixLength = 7
    /// Python writes headers of about 130 (plain) to 270 bytes (encrypted, tenant "default");
    /// tenants run to 1024 bytes. Anything past this is refused before parsing.
    public static let maxHeaderLength = 16 * 1024
    static let headerDepthLimit = 16

    /// The metadata of a frame header (`m`), as the writer and reader use it.
    public struct Metadata: Equatable, Sendable {
        public var format: String = "msgpack"
        public var encoding: String = "utf-8"
        public var compressed: Bool
        public var originalType: String? = "msgpack"
        public var encrypted: Bool = false
        public var tenantID: String?
        public var encryptionAlgorithm: String?
        public var keyFingerprint: String?

        public init(compressed: Bool) { self.compressed = compressed }
    }

    public struct Header: Equatable, Sendable {
        public var serializer: String
        public var metadata: Metadata
        public var version: String?
    }

    /// The header JSON exactly as Python's `json.dumps` writes it (default separators).
    public static func headerJSON(_ metadata: Metadata) -> String {
        var m = "{\"format\": " + JSONWriter.quoted(metadata.format)
            + ", \"encoding\": " + JSONWriter.quoted(metadata.encoding)
            + ", \"compressed\": " + (metadata.compressed ? "true" : "false")
            + ", \"original_type\": " + (metadata.originalType.map(JSONWriter.quoted) ?? "null")
        if metadata.encrypted {
            m += ", \"encrypted\": true"
            m += ", \"tenant_id\": " + (metadata.tenantID.map(JSONWriter.quoted) ?? "null")
            m += ", \"encryption_algorithm\": " + (metadata.encryptionAlgorithm.map(JSONWriter.quoted) ?? "null")
            m += ", \"key_fingerprint\": " + (metadata.keyFingerprint.map(JSONWriter.quoted) ?? "null")
        }
        m += "}"
        return "{\"s\": \"default\", \"m\": " + m + ", \"v\": \"2.0\"}"
    }

    /// Frames `payload` under a header for `metadata`.
    public static func encode(metadata: Metadata, payload: UnsafeRawBufferPointer) throws(CachekitError) -> OwnedBytes {
        let header = knownHeaders.first(where: { $0.header.metadata == metadata })?.bytes ?? Array(headerJSON(metadata).utf8)
        let total = prefixLength &+ header.count &+ payload.count
        var out = try OwnedBytes(uninitializedCount: total)
        let base = out.base
        base[0] = magic[0]
        base[1] = magic[1]
        base[2] = version
        let length = UInt32(truncatingIfNeeded: header.count)
        base[3] = UInt8(truncatingIfNeeded: length >> 24)
        base[4] = UInt8(truncatingIfNeeded: length >> 16)
        base[5] = UInt8(truncatingIfNeeded: length >> 8)
        base[6] = UInt8(truncatingIfNeeded: length)
        header.withUnsafeBufferPointer { source in
            if let start = source.baseAddress { (base + prefixLength).update(from: start, count: source.count) }
        }
        if let source = payload.baseAddress, payload.count > 0 {
            (base + (prefixLength &+ header.count)).update(from: source.assumingMemoryBound(to: UInt8.self), count: payload.count)
        }
        out.truncate(to: total)
        return out
    }

    /// Splits a frame into its header bytes and payload (ranges of `bytes`), with
    /// cachekit-py's checks: the magic, at least 7 bytes, version 3, a header length inside the frame.
    public static func split(_ bytes: UnsafeRawBufferPointer) throws(CachekitError) -> (header: Range<Int>, payload: Range<Int>) {
        guard bytes.count >= 2, bytes[0] == magic[0], bytes[1] == magic[1] else {
            if bytes.first == UInt8(ascii: "{") {
                throw CachekitError(.invalidFrame, "value is a legacy (pre-v3) base64 JSON envelope, which is not supported")
            }
            throw CachekitError(.invalidFrame, "value does not start with the CK frame magic")
        }
        guard bytes.count >= prefixLength else {
            throw CachekitError(.invalidFrame, "truncated CK frame: \(bytes.count) bytes (minimum \(prefixLength))")
        }
        guard bytes[2] == version else {
            throw CachekitError(.unsupportedFrameVersion, "CK frame version \(bytes[2]) (expected 3)")
        }
        var length = 0
        for index in 3..<7 { length = length << 8 | Int(bytes[index]) }
        let end = prefixLength &+ length
        guard end <= bytes.count else {
            throw CachekitError(.invalidFrame, "CK header length \(length) overruns the \(bytes.count)-byte frame")
        }
        return (prefixLength..<end, end..<bytes.count)
    }

    /// Parses a header as cachekit-py does (any key order, compact or spaced JSON, trailing
    /// padding spaces): `s` a non-empty string, `m` an object (default {}) with a `format`.
    public static func parseHeader(_ header: UnsafeRawBufferPointer) throws(CachekitError) -> Header {
        // The two plaintext headers Python writes are by far the most common: no parse for them.
        for known in knownHeaders where known.matches(header) { return known.header }
        let memoizable = header.count <= maxMemoizedHeaderLength
        if memoizable, let memoized = headerMemo.withLock({ memo in
            memo.first(where: { $0.matches(header) })?.header
        }) {
            return memoized
        }
        let parsed = try parseHeaderUncached(header)
        if memoizable {
            let entry = KnownHeader(bytes: Array(header), header: parsed)
            headerMemo.withLock { memo in
                if memo.count >= maxMemoizedHeaders { memo.removeFirst() }
                memo.append(entry)
            }
        }
        return parsed
    }

    /// Like cachekit-py, parsed headers are memoized (only valid ones, at most 512 bytes each):
    /// a process sees a handful of distinct encrypted headers (tenant + key fingerprint).
    static let maxMemoizedHeaders = 32
    static let maxMemoizedHeaderLength = 512
    private static let headerMemo = Locked<[KnownHeader]>([])

    private static func parseHeaderUncached(_ header: UnsafeRawBufferPointer) throws(CachekitError) -> Header {
        guard header.count <= maxHeaderLength else {
            throw CachekitError(.invalidHeader, "CK header of \(header.count) bytes exceeds the \(maxHeaderLength)-byte limit")
        }
        let json: JSONValue
        do {
            json = try JSONParser.parse(header, depthLimit: headerDepthLimit)
        } catch {
            throw CachekitError(.invalidHeader, "CK header: \(error.message)")
        }
        guard case .object = json else { throw CachekitError(.invalidHeader, "CK header is not a JSON object") }
        guard case .string(let serializer)? = json["s"], !serializer.isEmpty else {
            throw CachekitError(.invalidHeader, "CK header records no serializer name")
        }
        let m = json["m"] ?? .object([])
        guard case .object = m else { throw CachekitError(.invalidHeader, "CK header metadata is not an object") }
        guard case .string(let format)? = m["format"] else {
            throw CachekitError(.invalidHeader, "CK header metadata has no string format")
        }
        var metadata = Metadata(compressed: try flag(m, "compressed"))
        metadata.format = format
        metadata.encrypted = try flag(m, "encrypted")
        metadata.encoding = try optionalString(m, "encoding") ?? "utf-8"
        metadata.originalType = try optionalString(m, "original_type")
        metadata.tenantID = try optionalString(m, "tenant_id")
        metadata.encryptionAlgorithm = try optionalString(m, "encryption_algorithm")
        metadata.keyFingerprint = try optionalString(m, "key_fingerprint")
        var version: String?
        if case .string(let v)? = json["v"] { version = v }
        return Header(serializer: serializer, metadata: metadata, version: version)
    }

    private struct KnownHeader: Sendable {
        let bytes: [UInt8]
        let header: Header

        /// memcmp: the generic elementsEqual cost ~15 instructions a byte on every encrypted read.
        func matches(_ other: UnsafeRawBufferPointer) -> Bool {
            guard bytes.count == other.count else { return false }
            guard let base = other.baseAddress else { return bytes.isEmpty }
            return bytes.withUnsafeBytes { own in own.baseAddress.map { memcmp($0, base, other.count) == 0 } ?? false }
        }
    }

    private static let knownHeaders: [KnownHeader] = [true, false].map { compressed in
        let metadata = Metadata(compressed: compressed)
        return KnownHeader(bytes: Array(headerJSON(metadata).utf8),
                           header: Header(serializer: "default", metadata: metadata, version: "2.0"))
    }

    /// A boolean member; missing or null is false. Other types are refused (no writer emits them).
    private static func flag(_ object: JSONValue, _ name: String) throws(CachekitError) -> Bool {
        switch object[name] {
        case nil, .null?: return false
        case .bool(let value)?: return value
        default: throw CachekitError(.invalidHeader, "CK header metadata \(name) is not a boolean")
        }
    }

    private static func optionalString(_ object: JSONValue, _ name: String) throws(CachekitError) -> String? {
        switch object[name] {
        case nil, .null?: return nil
        case .string(let value)?: return value
        default: throw CachekitError(.invalidHeader, "CK header metadata \(name) is not a string")
        }
    }
}
