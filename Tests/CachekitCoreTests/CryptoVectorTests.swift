import Foundation
import Testing
@testable import CachekitCore

/// The cachekit-py entry rows (line 0 is the `_meta` line with the master key and tenant).
func entryRows() throws -> [[String: Any]] { try Vectors.jsonLines("cachekit-py-0.24.1-entries.jsonl") }

func bytes(_ hex: String) throws -> [UInt8] { try #require(Hex.decode(hex), "bad hex in a vector") }

/// The payload of a CK v3 frame: "CK" 0x03 u32be(header length) header payload. Parsed minimally
/// here; the frame codec itself belongs to the entries layer.
func ckFrame(_ value: [UInt8]) throws -> (header: [String: Any], payload: [UInt8]) {
    try #require(value.count >= 7 && value[0] == 0x43 && value[1] == 0x4b && value[2] == 0x03)
    let length = Int(value[3]) << 24 | Int(value[4]) << 16 | Int(value[5]) << 8 | Int(value[6])
    try #require(value.count >= 7 + length)
    let header = try #require(JSONSerialization.jsonObject(with: Data(value[7 ..< 7 + length])) as? [String: Any])
    return (header, Array(value[(7 + length)...]))
}

@Suite struct CryptoVectorTests {
    // RFC 5869 appendix A, test cases 1-3 (SHA-256).
    @Test(arguments: [
        ("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "000102030405060708090a0b0c", "f0f1f2f3f4f5f6f7f8f9", 42,
         "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"),
        ("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f",
         "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
         "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
         82,
         "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87"),
        ("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "", "", 42,
         "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"),
    ])
    func rfc5869(ikm: String, salt: String, info: String, length: Int, okm: String) throws {
        let (ikmBytes, saltBytes, infoBytes) = (try bytes(ikm), try bytes(salt), try bytes(info))
        var out = [UInt8](repeating: 0, count: length)
        try ikmBytes.withUnsafeBytes { i in
            try saltBytes.withUnsafeBytes { s in
                try infoBytes.withUnsafeBytes { n in
                    try out.withUnsafeMutableBytes { o in try HKDF.sha256(ikm: i, salt: s, info: n, into: o) }
                }
            }
        }
        #expect(Hex.encode(out) == okm)
    }

    @Test func vectorMetaLine() throws {
        let meta = try entryRows()[0]
        #expect(meta["mode"] as? String == "_meta")
        let master = try SecretBytes(copying: bytes(try #require(meta["master_key_hex"] as? String)))
        let tenant = try #require(meta["tenant_id"] as? String)
        let keys = try TenantKeys(masterKey: master, tenant: tenant)
        #expect(keys.encryption.withUnsafeBytes { Hex.encode($0) } == meta["encryption_key_hex"] as? String)
        #expect(try keys.encryptionFingerprint() == meta["key_fingerprint"] as? String)
        // The PROTOCOL example, spelled out.
        #expect(meta["encryption_key_hex"] as? String == "c5e86e5b07aef4007cf2b95d6d47941d3d81cd38c33546ee12324e8ffa641bda")
        let keyring = try Keyring(masterKeyHex: try #require(meta["master_key_hex"] as? String))
        #expect(try keyring.fingerprints(tenant: tenant) == ["1f42496441f47a81c6957e116519f95b"])
        #expect(try keys.authenticationFingerprint() != keys.encryptionFingerprint())
    }

    /// Every encrypted row decrypts to plaintext_hex, its AAD rebuilds from the entry's own
    /// metadata, and resealing with nonce_hex reproduces the stored payload byte for byte.
    @Test func everyEncryptedRowDecryptsAndReseals() throws {
        let rows = try entryRows()
        let meta = rows[0]
        let tenant = try #require(meta["tenant_id"] as? String)
        let keyring = try Keyring(masterKeyHex: try #require(meta["master_key_hex"] as? String))
        let master = try SecretBytes(copying: bytes(try #require(meta["master_key_hex"] as? String)))
        let cipher = try GCMKey(key: TenantKeys(masterKey: master, tenant: tenant).encryption)
        var checked = 0
        for row in rows where row["encrypted"] as? Bool == true {
            let name = "\(row["mode"] ?? "?")/\(row["case"] ?? "?")"
            let value = try bytes(try #require(row["value_hex"] as? String))
            let redisKey = try #require(row["redis_key"] as? String)
            let payload: [UInt8]
            let fingerprint: String?
            let aad: [UInt8]
            if row["mode"] as? String == "interop_secure" {
                payload = value
                fingerprint = nil
                aad = try AAD.v3(tenant: tenant, cacheKey: redisKey, format: "msgpack", compressed: false, originalType: nil)
            } else {
                let frame = try ckFrame(value)
                payload = frame.payload
                let m = try #require(frame.header["m"] as? [String: Any])
                fingerprint = try #require(m["key_fingerprint"] as? String)
                aad = try AAD.v3(tenant: try #require(m["tenant_id"] as? String), cacheKey: redisKey,
                                 format: try #require(m["format"] as? String),
                                 compressed: try #require(m["compressed"] as? Bool), originalType: m["original_type"] as? String)
            }
            #expect(Hex.encode(aad) == row["aad_hex"] as? String, "AAD of \(name)")
            let nonce = try bytes(try #require(row["nonce_hex"] as? String))
            #expect(Array(payload.prefix(12)) == nonce, "nonce of \(name)")
            let plaintext = try bytes(try #require(row["plaintext_hex"] as? String))
            #expect(try keyring.decrypt(payload: payload, aad: aad, tenant: tenant, fingerprint: fingerprint) == plaintext, "decrypt \(name)")
            #expect(try keyring.decrypt(payload: payload, aad: aad, tenant: tenant, fingerprint: nil) == plaintext, "in-order \(name)")
            #expect(try AESGCM.seal(key: cipher, nonce: nonce, plaintext: plaintext, aad: aad) == payload, "reseal \(name)")
            checked += 1
        }
        #expect(checked == 33)  // 14 secure, 1 secure_example, 9 secure_bare, 9 interop_secure
    }

    @Test func aadComponentsAndSpelling() throws {
        let five = try AAD.v3(tenant: "t", cacheKey: "k", format: "msgpack", compressed: true, originalType: "msgpack")
        #expect(Hex.encode(five) == "03" + "00000001" + "74" + "00000001" + "6b" + "00000007" + "6d73677061636b"
                + "00000004" + "54727565" + "00000007" + "6d73677061636b")
        let four = try AAD.v3(tenant: "t", cacheKey: "k", format: "msgpack", compressed: false, originalType: nil)
        #expect(Hex.encode(four).hasSuffix("0000000546616c7365"))
        #expect(throws: CachekitError.self) { try AAD.v3(tenant: "", cacheKey: "k", format: "msgpack", compressed: false, originalType: nil) }
        #expect(throws: CachekitError.self) { try AAD.v3(components: [[1], [2], [3]]) }
    }
}
