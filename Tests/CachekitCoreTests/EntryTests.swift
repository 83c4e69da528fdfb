import Testing
@testable import CachekitCore

/// A row of cachekit-py-0.24.1-entries.jsonl.
struct EntryRow: CustomStringConvertible {
    let json: JSONValue
    var mode: String { json["mode"]?.string ?? "" }
    var caseName: String { json["case"]?.string ?? "" }
    var description: String { "\(mode)/\(caseName)" }
    var value: [UInt8] { bytes(hex: json["value_hex"]?.string ?? "") }
    var inner: [UInt8] { bytes(hex: json["expected_inner_msgpack_hex"]?.string ?? "") }
    var redisKey: String { json["redis_key"]?.string ?? "" }
    var cacheKey: String { json["cache_key"]?.string ?? "" }
    var encrypted: Bool { json["encrypted"]?.bool ?? false }
    var deterministic: Bool { json["deterministic"]?.bool ?? false }

    var entryMode: EntryMode {
        if mode == "minimal" { return .minimal }
        return mode.hasPrefix("interop") ? .interop : .auto
    }

    /// The key the AAD binds: the full Redis key in auto mode, the bare key in interop mode.
    var aadKey: String { entryMode == .interop ? cacheKey : redisKey }

    /// The recorded call, as MessagePack (positional, keyword).
    var call: (MessagePackValue, MessagePackValue) {
        switch json["call"]?["args"]?.string {
        case "(1, 'two', 3.0)": return (.array([.uint(1), .string("two"), .float64(3.0)]), .map([]))
        case "()": return (.array([]), .map([.init(.string("user_id"), .uint(42)), .init(.string("include_profile"), .bool(true))]))
        default: return (.array([.uint(42)]), .map([]))
        }
    }

    static func all() throws -> [EntryRow] {
        try Vectors.jsonLines("cachekit-py-0.24.1-entries.jsonl").map(EntryRow.init).filter { $0.mode != "_meta" }
    }
}

@Suite struct EntryTests {
    @Test func everyKeyInTheEntriesFileMatches() throws {
        let rows = try EntryRow.all()
        #expect(rows.count == 83)
        for row in rows {
            let (args, kwargs) = row.call
            let key: String
            if row.entryMode == .interop {
                let parts = row.cacheKey.split(separator: ":")
                key = try CacheKeys.interopKey(namespace: String(parts[0]), operation: String(parts[1]), arguments: args)
            } else {
                var namespace: String?
                if row.cacheKey.hasPrefix("ns:") { namespace = String(row.cacheKey.split(separator: ":")[1]) }
                key = try CacheKeys.autoKey(namespace: namespace, function: row.json["function"]?.string ?? "",
                                            arguments: args, keywordArguments: kwargs,
                                            integrity: row.entryMode == .auto)
            }
            #expect(key == row.cacheKey, "\(row)")
            let redisKey = row.redisKey.hasPrefix("t:") ? CacheKeys.tenantPrefixed(key, tenant: "default") : key
            #expect(redisKey == row.redisKey, "\(row)")
        }
    }

    @Test func plainRowsDecodeAndReencodeByteForByte() throws {
        let rows = try EntryRow.all().filter { !$0.encrypted }
        #expect(rows.count == 50)
        for row in rows {
            let inner = try withBytes(row.value) { raw throws(CacheKitError) in
                try Entry.decode(raw, mode: row.entryMode, key: row.aadKey, security: nil).array
            }
            #expect(inner == row.inner, "\(row)")
            #expect(row.deterministic)
            let encoded = try withBytes(row.inner) { raw throws(CacheKitError) in
                try Entry.encode(inner: raw, mode: row.entryMode, key: row.aadKey, security: nil).array
            }
            if row.caseName.hasSuffix("large_compressible") {
                // PROTOCOL.md section 2: liblz4 and the Rust encoder choose different matches for
                // repetitive input, so only the frame header must match; ours must decode back.
                let headerLength = 7 + Int(row.value[6])
                #expect(Array(encoded.prefix(headerLength)) == Array(row.value.prefix(headerLength)), "\(row)")
                let roundTrip = try withBytes(encoded) { raw throws(CacheKitError) in
                    try Entry.decode(raw, mode: row.entryMode, key: row.aadKey, security: nil).array
                }
                #expect(roundTrip == row.inner, "\(row)")
            } else {
                #expect(encoded == row.value, "\(row)")
            }
        }
    }

    @Test func encryptedRowsAreRefusedWithoutAKeyring() throws {
        for row in try EntryRow.all() where row.encrypted && row.entryMode != .interop {
            do {
                _ = try withBytes(row.value) { raw throws(CacheKitError) in
                    try Entry.decode(raw, mode: row.entryMode, key: row.aadKey, security: nil).array
                }
                Issue.record("decoded \(row)")
            } catch {
                #expect(error.status == .encryptedEntry, "\(row)")
            }
        }
    }

    @Test func headersAreReadInAnyKeyOrderAndCompactForm() throws {
        let compact = #"{"m":{"original_type":"msgpack","compressed":false,"format":"msgpack"},"v":"2.0","s":"default"}   "#
        let header = try withBytes(Array(compact.utf8)) { raw throws(CacheKitError) in try Frame.parseHeader(raw) }
        #expect(header.serializer == "default")
        #expect(header.metadata.compressed == false)
        var frame: [UInt8] = [0x43, 0x4b, 3, 0, 0, 0, UInt8(compact.utf8.count)] + Array(compact.utf8)
        frame += [0x81, 0xa1, 0x61, 0x01]
        let inner = try withBytes(frame) { raw throws(CacheKitError) in
            try Entry.decode(raw, mode: .minimal, key: "k", security: nil).array
        }
        #expect(inner == [0x81, 0xa1, 0x61, 0x01])
    }

    @Test func theMinimalHeaderIsExactlyPythons() {
        #expect(Frame.headerJSON(Frame.Metadata(compressed: false))
                == #"{"s": "default", "m": {"format": "msgpack", "encoding": "utf-8", "compressed": false, "original_type": "msgpack"}, "v": "2.0"}"#)
    }
}
