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
        try KeyVectors.jsonLines("cachekit-py-0.24.1-entries.jsonl").map(EntryRow.init).filter { $0.mode != "_meta" }
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
            let inner = try withBytes(row.value) { raw throws(CachekitError) in
                try Entry.decode(raw, mode: row.entryMode, key: row.aadKey, security: nil).array
            }
            #expect(inner == row.inner, "\(row)")
            #expect(row.deterministic)
            let encoded = try withBytes(row.inner) { raw throws(CachekitError) in
                try Entry.encode(inner: raw, mode: row.entryMode, key: row.aadKey, security: nil).array
            }
            if row.caseName.hasSuffix("large_compressible") {
                // PROTOCOL.md section 2: liblz4 and the Rust encoder choose different matches for
                // repetitive input, so only the frame header must match; ours must decode back.
                let headerLength = 7 + Int(row.value[6])
                #expect(Array(encoded.prefix(headerLength)) == Array(row.value.prefix(headerLength)), "\(row)")
                let roundTrip = try withBytes(encoded) { raw throws(CachekitError) in
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
                _ = try withBytes(row.value) { raw throws(CachekitError) in
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
        let header = try withBytes(Array(compact.utf8)) { raw throws(CachekitError) in try Frame.parseHeader(raw) }
        #expect(header.serializer == "default")
        #expect(header.metadata.compressed == false)
        var frame: [UInt8] = [0x43, 0x4b, 3, 0, 0, 0, UInt8(compact.utf8.count)] + Array(compact.utf8)
        frame += [0x81, 0xa1, 0x61, 0x01]
        let inner = try withBytes(frame) { raw throws(CachekitError) in
            try Entry.decode(raw, mode: .minimal, key: "k", security: nil).array
        }
        #expect(inner == [0x81, 0xa1, 0x61, 0x01])
    }

    @Test func theMinimalHeaderIsExactlyPythons() {
        #expect(Frame.headerJSON(Frame.Metadata(compressed: false))
                == #"{"s": "default", "m": {"format": "msgpack", "encoding": "utf-8", "compressed": false, "original_type": "msgpack"}, "v": "2.0"}"#)
    }
}

@Suite struct EncryptedEntryTests {
    static let masterHex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

    static func security(tenant: String = "default", strict: Bool = false) throws -> EntrySecurity {
        EntrySecurity(keyring: try Keyring(masterKeyHex: masterHex), tenant: tenant, requireTenantMatch: strict)
    }

    @Test func everyEncryptedRowDecodesAndResealsWithItsNonce() throws {
        let rows = try EntryRow.all().filter(\.encrypted)
        #expect(rows.count == 33)
        let security = try Self.security()
        let gcm = try GCMKey(key: try KeyDerivation.deriveDomainKey(
            masterKey: try Hex.decodeSecret(Self.masterHex, what: "master"), domain: .encryption, tenant: "default"))
        for row in rows {
            let inner = try withBytes(row.value) { raw throws(CachekitError) in
                try Entry.decode(raw, mode: row.entryMode, key: row.aadKey, security: security).array
            }
            #expect(inner == row.inner, "\(row)")
            let nonce = bytes(hex: row.json["nonce_hex"]?.string ?? "")
            let recordedPlaintext = bytes(hex: row.json["plaintext_hex"]?.string ?? "")
            let expectedAAD = bytes(hex: row.json["aad_hex"]?.string ?? "")
            var seenAAD: [UInt8] = []
            let sealer: Entry.Sealer = { plaintext, aad, _ throws(CachekitError) in
                seenAAD = aad
                let sealed = try AESGCM.seal(key: gcm, nonce: nonce, plaintext: Array(plaintext), aad: aad)
                return Keyring.Sealed(payload: try withBytes(sealed) { raw throws(CachekitError) in try OwnedBytes(copying: raw) },
                                      fingerprint: "1f42496441f47a81c6957e116519f95b")
            }
            let encoded = try withBytes(row.inner) { raw throws(CachekitError) in
                try Entry.encode(inner: raw, mode: row.entryMode, key: row.aadKey, security: security, sealer: sealer).array
            }
            #expect(seenAAD == expectedAAD, "\(row)")
            if row.caseName.hasSuffix("large_compressible") {
                // Our LZ4 block differs (PROTOCOL.md section 2): seal the recorded envelope instead.
                let headerEnd = 7 + Int(row.value[5]) << 8 + Int(row.value[6])
                #expect(Array(encoded.prefix(headerEnd)) == Array(row.value.prefix(headerEnd)), "\(row)")
                let sealed = try AESGCM.seal(key: gcm, nonce: nonce, plaintext: recordedPlaintext, aad: expectedAAD)
                #expect(Array(row.value.prefix(headerEnd)) + sealed == row.value, "\(row)")
                let roundTrip = try withBytes(encoded) { raw throws(CachekitError) in
                    try Entry.decode(raw, mode: row.entryMode, key: row.aadKey, security: security).array
                }
                #expect(roundTrip == row.inner, "\(row)")
            } else {
                #expect(encoded == row.value, "\(row)")
            }
        }
    }

    @Test func encryptingReadersRefuseWhatPythonRefuses() throws {
        let security = try Self.security()
        let rows = try EntryRow.all()
        func status(_ value: [UInt8], _ mode: EntryMode, _ key: String, _ security: EntrySecurity?) -> Status? {
            do {
                _ = try withBytes(value) { raw throws(CachekitError) in
                    try Entry.decode(raw, mode: mode, key: key, security: security).array
                }
                return nil
            } catch { return error.status }
        }
        let plain = try #require(rows.first { $0.mode == "plain" })
        #expect(status(plain.value, .auto, plain.aadKey, security) == .notEncrypted)
        let secure = try #require(rows.first { $0.mode == "secure" })
        // The AAD binds the full Redis key: the bare key does not authenticate.
        #expect(status(secure.value, .auto, secure.cacheKey, security) == .authenticationFailed)
        let other = EntrySecurity(keyring: try Keyring(masterKeyHex: String(repeating: "ab", count: 32)))
        #expect(status(secure.value, .auto, secure.aadKey, other) == .authenticationFailed)
        #expect(status(secure.value, .auto, secure.aadKey, try Self.security(tenant: "acme", strict: true)) == .tenantMismatch)
        let interop = try #require(rows.first { $0.mode == "interop_secure" })
        #expect(status(interop.value, .interop, interop.aadKey, other) == .authenticationFailed)
        var tampered = secure.value
        tampered[tampered.count - 1] ^= 1
        #expect(status(tampered, .auto, secure.aadKey, security) == .authenticationFailed)
    }
}

@Suite struct BadEntryTests {
    static func status(_ value: [UInt8], _ mode: EntryMode = .auto) -> Status? {
        do {
            _ = try withBytes(value) { raw throws(CachekitError) in
                try Entry.decode(raw, mode: mode, key: "k", security: nil).array
            }
            return nil
        } catch { return error.status }
    }

    static func frame(_ header: String, _ payload: [UInt8] = [0xc0], version: UInt8 = 3) -> [UInt8] {
        let h = Array(header.utf8)
        let n = UInt32(h.count)
        return [0x43, 0x4b, version, UInt8(n >> 24), UInt8((n >> 16) & 0xff), UInt8((n >> 8) & 0xff), UInt8(n & 0xff)] + h + payload
    }

    static let minimalHeader = Frame.headerJSON(Frame.Metadata(compressed: false))

    @Test func malformedFrames() {
        #expect(Self.status([]) == .invalidFrame)
        #expect(Self.status([0x43, 0x4b]) == .invalidFrame)
        #expect(Self.status([0x43, 0x4b, 3, 0, 0]) == .invalidFrame)
        #expect(Self.status([0x43, 0x4b, 3, 0, 0, 0, 9, 0x7b]) == .invalidFrame)
        #expect(Self.status([0x43, 0x4b, 3, 0xff, 0xff, 0xff, 0xff]) == .invalidFrame)
        #expect(Self.status(Self.frame(Self.minimalHeader, version: 2), .minimal) == .unsupportedFrameVersion)
        #expect(Self.status(Array(#"{"serializer": "default", "data": ""}"#.utf8)) == .invalidFrame)
        #expect(Self.status([0x81, 0xa1, 0x61, 0x01]) == .invalidFrame)
    }

    @Test func badHeaders() {
        #expect(Self.status(Self.frame("not json"), .minimal) == .invalidHeader)
        #expect(Self.status(Self.frame("[1, 2]"), .minimal) == .invalidHeader)
        #expect(Self.status(Self.frame(#"{"m": {"format": "msgpack"}}"#), .minimal) == .invalidHeader)
        #expect(Self.status(Self.frame(#"{"s": "", "m": {"format": "msgpack"}}"#), .minimal) == .invalidHeader)
        #expect(Self.status(Self.frame(#"{"s": "default", "m": {}}"#), .minimal) == .invalidHeader)
        #expect(Self.status(Self.frame(#"{"s": "default", "m": {"format": "msgpack", "compressed": "yes"}}"#), .minimal) == .invalidHeader)
        #expect(Self.status(Self.frame(#"{"s": "default", "m": {"format": "msgpack", "tenant_id": "\ud800"}}"#), .minimal) == .invalidHeader)
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(Self.status(Self.frame(#"{"s": "default", "x": "# + deep + #", "m": {"format": "msgpack"}}"#), .minimal) == .invalidHeader)
        let huge = #"{"s": "default", "m": {"format": "msgpack"}, "pad": ""# + String(repeating: "a", count: 1 << 20) + "\"}"
        #expect(Self.status(Self.frame(huge), .minimal) == .invalidHeader)
        #expect(Self.status(Self.frame(#"{"s": "arrow", "m": {"format": "msgpack"}}"#), .minimal) == .serializerMismatch)
        #expect(Self.status(Self.frame(#"{"s": "default", "m": {"format": "orjson"}}"#), .minimal) == .serializerMismatch)
        // Compact JSON, any key order, trailing padding: accepted.
        #expect(Self.status(Self.frame(#"{"m":{"format":"msgpack"},"s":"default"}  "#), .minimal) == nil)
    }

    @Test func modeMismatchesAndBadValues() throws {
        let rows = try EntryRow.all()
        let plain = try #require(rows.first { $0.mode == "plain" })
        let minimal = try #require(rows.first { $0.mode == "minimal" })
        #expect(Self.status(plain.value, .minimal) == .modeMismatch)
        #expect(Self.status(minimal.value, .auto) == .modeMismatch)
        #expect(Self.status(plain.value, .interop) == .modeMismatch)
        // An envelope stored under a header claiming integrity off is still refused by a minimal reader.
        let envelope = bytes(hex: plain.json["plaintext_hex"]?.string ?? "")
        #expect(Self.status(Self.frame(Self.minimalHeader, envelope), .minimal) == .modeMismatch)
        #expect(Self.status(Self.frame(Self.minimalHeader, [0xc0, 0xc0]), .minimal) == .invalidValue)
        #expect(Self.status(Self.frame(Self.minimalHeader, [0x92, 0x01]), .minimal) == .invalidValue)
        #expect(Self.status(Self.frame(Self.minimalHeader, [0xa2, 0xff, 0xfe]), .minimal) == .invalidUTF8)
        #expect(Self.status(Self.frame(Self.minimalHeader, [0x81, 0x01, 0x01]), .minimal) == .invalidMapKey)
        #expect(Self.status([0x81, 0x01, 0x01], .interop) == nil)
        #expect(Self.status([0x81, 0x91, 0x01, 0x01], .interop) == .invalidMapKey)
        #expect(Self.status([UInt8](repeating: 0x91, count: 1025) + [0xc0], .interop) == .nestingTooDeep)
        #expect(Self.status([UInt8](repeating: 0x91, count: 1024) + [0xc0], .interop) == nil)
        #expect(Self.status([0xdd, 0xff, 0xff, 0xff, 0xff], .interop) == .invalidValue)
    }

    @Test func writersRefuseInvalidDocuments() {
        for (inner, status) in [([0xc1], Status.invalidInput), ([0xc0, 0xc0], .invalidInput), ([0xa1, 0xff], .invalidUTF8)] as [([UInt8], Status)] {
            do {
                _ = try withBytes(inner) { raw throws(CachekitError) in
                    try Entry.encode(inner: raw, mode: .auto, key: "k", security: nil).array
                }
                Issue.record("encoded \(inner)")
            } catch {
                #expect(error.status == status)
            }
        }
    }
}
