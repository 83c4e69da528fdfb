import Foundation
import Testing
@testable import CachekitCore

private let keyA = String(repeating: "11", count: 32)
private let keyB = String(repeating: "22", count: 32)
private let keyC = String(repeating: "33", count: 32)
private let tenant = "tenant-123"

private func aad(_ key: String = "t:default:func:m.f:args:00:1s") throws -> [UInt8] {
    try AAD.v3(tenant: tenant, cacheKey: key, format: "msgpack", compressed: true, originalType: "msgpack")
}

/// The status a throwing call ends with, and a check that its message names no key.
private func status(_ secrets: [String] = [keyA, keyB, keyC], _ body: () throws -> Void) -> Status? {
    do {
        try body()
        return nil
    } catch let error as CachekitError {
        for secret in secrets { #expect(!error.message.lowercased().contains(secret.prefix(16))) }
        return error.status
    } catch {
        Issue.record("unexpected error type: \(error)")
        return .internal
    }
}

/// Per-thread result slots: each thread writes only its own range.
private final class Slots<T>: @unchecked Sendable {
    let buffer: UnsafeMutableBufferPointer<T>
    init(_ count: Int, _ initial: T) {
        buffer = .allocate(capacity: count)
        buffer.initialize(repeating: initial)
    }
    deinit { buffer.deallocate() }
}

@Suite struct CryptoKeyringTests {
    @Test func roundTripAndFingerprint() throws {
        let keyring = try Keyring(masterKeyHex: keyA)
        let plaintext = Array("hello, cachekit".utf8)
        let sealed = try keyring.encrypt(plaintext: plaintext, aad: aad(), tenant: tenant)
        #expect(sealed.payload.count == plaintext.count + 28)
        #expect(sealed.fingerprint == (try keyring.fingerprints(tenant: tenant))[0])
        #expect(try keyring.decrypt(payload: sealed.payload, aad: aad(), tenant: tenant, fingerprint: sealed.fingerprint) == plaintext)
        let empty = try keyring.encrypt(plaintext: [], aad: aad(), tenant: tenant)
        #expect(empty.payload.count == 28)
        #expect(try keyring.decrypt(payload: empty.payload, aad: aad(), tenant: tenant, fingerprint: nil) == [])
        // Successive encryptions through one tenant's encryptor: same instance id, counter + 1.
        let next = try keyring.encrypt(plaintext: plaintext, aad: aad(), tenant: tenant)
        #expect(next.payload.prefix(8) == sealed.payload.prefix(8))
        #expect(next.payload[8 ..< 12] == [0, 0, 0, 2])
    }

    /// 8 threads x 10,000 encryptions through one encryptor: 80,000 distinct nonces, one instance
    /// id, and the counter ends at exactly 80,000.
    @Test func concurrentNoncesAreUnique() throws {
        let threads = 8, perThread = 10_000
        let key = try SecretBytes(copying: [UInt8](repeating: 7, count: 32))
        let encryptor = try Encryptor(key: key)
        let nonceSlots = Slots<(UInt64, UInt32)>(threads * perThread, (0, 0))
        let failureSlots = Slots<Int>(threads, 0)
        let done = DispatchSemaphore(value: 0)
        let plaintext: [UInt8] = Array(repeating: 0x42, count: 64)
        for t in 0 ..< threads {
            let thread = Thread {
                let nonces = nonceSlots.buffer, failures = failureSlots.buffer
                for i in 0 ..< perThread {
                    do {
                        let payload = try plaintext.withUnsafeBytes { p in try encryptor.seal(plaintext: p, aad: UnsafeRawBufferPointer(start: nil, count: 0)).array }
                        var id: UInt64 = 0
                        var counter: UInt32 = 0
                        for b in payload[0 ..< 8] { id = id << 8 | UInt64(b) }
                        for b in payload[8 ..< 12] { counter = counter << 8 | UInt32(b) }
                        nonces[t * perThread + i] = (id, counter)
                    } catch {
                        failures[t] += 1
                    }
                }
                done.signal()
            }
            thread.start()
        }
        for _ in 0 ..< threads { done.wait() }
        let nonces = nonceSlots.buffer
        #expect(failureSlots.buffer.reduce(0, +) == 0)
        #expect(Set(nonces.map(\.0)) == [encryptor.instanceID])
        let counters = Set(nonces.map(\.1))
        #expect(counters.count == threads * perThread)
        #expect(counters.min() == 0 && counters.max() == UInt32(threads * perThread - 1))
        #expect(encryptor.counterValue == UInt64(threads * perThread))
    }

    @Test func nonceExhaustionIsAnErrorNeverAWrap() throws {
        let key = try GCMKey(key: SecretBytes(copying: [UInt8](repeating: 9, count: 32)))
        let encryptor = try Encryptor(key: key, startingCounter: Encryptor.counterLimit - 2)
        let empty = UnsafeRawBufferPointer(start: nil, count: 0)
        let first = try encryptor.seal(plaintext: empty, aad: empty).array
        let last = try encryptor.seal(plaintext: empty, aad: empty).array
        #expect(first[8 ..< 12] == [0xff, 0xff, 0xff, 0xfd])
        #expect(last[8 ..< 12] == [0xff, 0xff, 0xff, 0xfe])
        for _ in 0 ..< 3 {
            #expect(status { _ = try encryptor.seal(plaintext: empty, aad: empty) } == .nonceExhausted)
        }
    }

    /// A keyring whose tenant encryptor is spent moves to a fresh encryptor (new instance id,
    /// counter from 0) instead of failing writes, and never reuses a nonce.
    @Test func keyringReplacesAnExhaustedEncryptor() throws {
        let keyring = try Keyring(masterKeyHex: keyA)
        let state = try keyring.state(for: tenant)
        let nearlySpent = try Encryptor(key: state.entries[0].cipher, startingCounter: Encryptor.counterLimit - 1)
        state.encryptor.withLock { $0 = nearlySpent }
        let last = try keyring.encrypt(plaintext: [1], aad: aad(), tenant: tenant)
        let next = try keyring.encrypt(plaintext: [2], aad: aad(), tenant: tenant)
        #expect(last.payload[8 ..< 12] == [0xff, 0xff, 0xff, 0xfe])
        #expect(next.payload.prefix(8) != last.payload.prefix(8))
        #expect(next.payload[8 ..< 12] == [0, 0, 0, 0])
        #expect(try keyring.decrypt(payload: next.payload, aad: aad(), tenant: tenant, fingerprint: next.fingerprint) == [2])
        #expect(state.encryptor.withLock { $0 } !== nearlySpent)
    }

    @Test func badKeyIsRejectedBeforeAnyNonce() throws {
        let short = try SecretBytes(copying: [UInt8](repeating: 1, count: 16))
        #expect(status { _ = try Encryptor(key: short) } == .keyLength)
        #expect(status { _ = try GCMKey(key: SecretBytes(copying: [UInt8](repeating: 1, count: 33))) } == .keyLength)
    }

    @Test func tamperingAndWrongContextFailAuthentication() throws {
        let keyring = try Keyring(masterKeyHex: keyA)
        let plaintext = Array("secret value".utf8)
        let sealed = try keyring.encrypt(plaintext: plaintext, aad: aad(), tenant: tenant)
        for position in [0, 11, 12, 12 + plaintext.count - 1, 12 + plaintext.count, sealed.payload.count - 1] {
            var flipped = sealed.payload
            flipped[position] ^= 0x01
            #expect(status {
                _ = try keyring.decrypt(payload: flipped, aad: aad(), tenant: tenant, fingerprint: sealed.fingerprint)
            } == .authenticationFailed, "bit flipped at \(position)")
        }
        let wrongAADs: [[UInt8]] = [
            try AAD.v3(tenant: "other", cacheKey: "t:default:func:m.f:args:00:1s", format: "msgpack", compressed: true, originalType: "msgpack"),
            try aad("t:default:func:m.g:args:00:1s"),
            try AAD.v3(tenant: tenant, cacheKey: "t:default:func:m.f:args:00:1s", format: "json", compressed: true, originalType: "msgpack"),
            try AAD.v3(tenant: tenant, cacheKey: "t:default:func:m.f:args:00:1s", format: "msgpack", compressed: false, originalType: "msgpack"),
            try AAD.v3(tenant: tenant, cacheKey: "t:default:func:m.f:args:00:1s", format: "msgpack", compressed: true, originalType: nil),
        ]
        for wrong in wrongAADs {
            #expect(status {
                _ = try keyring.decrypt(payload: sealed.payload, aad: wrong, tenant: tenant, fingerprint: nil)
            } == .authenticationFailed)
        }
        #expect(status {
            _ = try keyring.decrypt(payload: sealed.payload, aad: aad(), tenant: "tenant-124", fingerprint: nil)
        } == .authenticationFailed)
        let other = try Keyring(masterKeyHex: keyB)
        #expect(status {
            _ = try other.decrypt(payload: sealed.payload, aad: aad(), tenant: tenant, fingerprint: nil)
        } == .authenticationFailed)
        for length in [0, 1, 27] {
            #expect(status {
                _ = try keyring.decrypt(payload: Array(sealed.payload.prefix(length)), aad: aad(), tenant: tenant, fingerprint: nil)
            } == .ciphertextTooShort)
        }
        #expect(status {
            _ = try keyring.decrypt(payload: sealed.payload, aad: aad(), tenant: tenant, fingerprint: "XYZ")
        } == .invalidFingerprint)
    }

    @Test func poisonedOutputOnAuthenticationFailure() throws {
        let key = try GCMKey(key: SecretBytes(copying: [UInt8](repeating: 5, count: 32)))
        let plaintext = [UInt8](repeating: 0xAB, count: 100)
        var sealed = try AESGCM.seal(key: key, nonce: [UInt8](repeating: 0, count: 12), plaintext: plaintext, aad: [])
        sealed[sealed.count - 1] ^= 0x80
        var output = [UInt8](repeating: 0xEE, count: 100)
        let failure = status {
            try sealed.withUnsafeBytes { s in
                try output.withUnsafeMutableBytes { o in
                    try key.open(nonce: UnsafeRawBufferPointer(rebasing: s[0 ..< 12]), sealed: UnsafeRawBufferPointer(rebasing: s[12...]),
                                 aad: UnsafeRawBufferPointer(start: nil, count: 0), into: o)
                }
            } as Void
        }
        #expect(failure == .authenticationFailed)
        #expect(output.allSatisfy { $0 == 0 })
    }

    @Test func rotationByFingerprintAndInOrder() throws {
        let old = try Keyring(masterKeyHex: keyA)
        let plaintext = Array("written before rotation".utf8)
        let sealed = try old.encrypt(plaintext: plaintext, aad: aad(), tenant: tenant)

        let rotated = try Keyring(masterKeyHex: keyB, previousKeysHex: [keyC, keyA])
        #expect(rotated.keyCount == 3)
        #expect(try rotated.fingerprints(tenant: tenant)[2] == sealed.fingerprint)
        #expect(try rotated.decrypt(payload: sealed.payload, aad: aad(), tenant: tenant, fingerprint: sealed.fingerprint) == plaintext)
        #expect(try rotated.decrypt(payload: sealed.payload, aad: aad(), tenant: tenant, fingerprint: nil) == plaintext)
        // Writes use the new current key.
        let fresh = try rotated.encrypt(plaintext: plaintext, aad: aad(), tenant: tenant)
        #expect(fresh.fingerprint == (try rotated.fingerprints(tenant: tenant))[0])
        #expect(fresh.fingerprint != sealed.fingerprint)

        // Hard cut-over: the old entry is unreadable; fail-closed refuses before decrypting.
        let cutOver = try Keyring(masterKeyHex: keyB)
        #expect(status {
            _ = try cutOver.decrypt(payload: sealed.payload, aad: aad(), tenant: tenant, fingerprint: sealed.fingerprint)
        } == .authenticationFailed)
        #expect(status {
            _ = try cutOver.decrypt(payload: sealed.payload, aad: aad(), tenant: tenant, fingerprint: nil)
        } == .authenticationFailed)
        cutOver.failClosed = true
        #expect(status {
            _ = try cutOver.decrypt(payload: sealed.payload, aad: aad(), tenant: tenant, fingerprint: sealed.fingerprint)
        } == .keyFingerprintMismatch)
        // A fingerprint match is binding: the matched key failing does not fall back.
        var tampered = sealed.payload
        tampered[20] ^= 1
        #expect(status {
            _ = try rotated.decrypt(payload: tampered, aad: aad(), tenant: tenant, fingerprint: sealed.fingerprint)
        } == .authenticationFailed)
    }

    @Test func keyringConfigurationErrors() throws {
        func creating(_ master: String, _ previous: [String] = []) -> Status? {
            status { _ = try Keyring(masterKeyHex: master, previousKeysHex: previous) }
        }
        #expect(creating(String(repeating: "ab", count: 31)) == .keyLength)
        #expect(creating(keyA, [String(repeating: "ab", count: 31)]) == .keyLength)
        #expect(creating(keyA + "1") == .invalidHex)
        #expect(creating(String(repeating: "zz", count: 32)) == .invalidHex)
        #expect(creating(keyA, [keyB, "0g" + String(repeating: "00", count: 31)]) == .invalidHex)
        #expect(creating(keyA, [keyB, keyC, String(repeating: "44", count: 32), String(repeating: "55", count: 32)]) == .tooManyPreviousKeys)
        #expect(creating(keyA, [keyB, keyA.uppercased()]) == .currentKeyRepeated)
        #expect(creating(" \(keyA)\n") == nil)
        #expect(creating(keyA, [keyB, keyC, String(repeating: "44", count: 32)]) == nil)
        // Longer keys are fine (the hex rule is a floor).
        #expect(creating(String(repeating: "ab", count: 48)) == nil)

        let keyring = try Keyring(masterKeyHex: keyA)
        #expect(status { _ = try keyring.encrypt(plaintext: [1], aad: [], tenant: "") } == .tenantLength)
        #expect(status {
            _ = try keyring.encrypt(plaintext: [1], aad: [], tenant: String(repeating: "t", count: 1025))
        } == .tenantLength)
        #expect(status {
            _ = try keyring.encrypt(plaintext: [1], aad: [], tenant: String(repeating: "t", count: 1024))
        } == nil)
    }

    @Test func hkdfLimits() throws {
        let master = try SecretBytes(copying: [UInt8](repeating: 3, count: 32))
        func derive(_ domain: [UInt8], _ tenant: [UInt8], master key: SecretBytes = master) -> Status? {
            status {
                _ = try withArrayBytes(domain) { d throws(CachekitError) in
                    try withArrayBytes(tenant) { t throws(CachekitError) in
                        try KeyDerivation.deriveDomainKey(masterKey: key.bytes, domain: d, tenant: t)
                    }
                }
            }
        }
        #expect(derive(Array(repeating: 0x61, count: 255), Array(repeating: 0x62, count: 1024)) == nil)
        #expect(derive(Array(repeating: 0x61, count: 256), [0x62]) == .domainLength)
        #expect(derive([], [0x62]) == .domainLength)
        #expect(derive([0x61], Array(repeating: 0x62, count: 1025)) == .tenantLength)
        #expect(derive([0x61], []) == .tenantLength)
        #expect(derive([0x61], [0x62], master: try SecretBytes(copying: [UInt8](repeating: 3, count: 15))) == .keyLength)
        // Domain separation and the length-prefixed salt: ("foo","bar") differs from ("foob","ar").
        let keys = try TenantKeys(masterKey: master, tenant: "t")
        #expect(!keys.encryption.isEqual(to: keys.authentication) && !keys.encryption.isEqual(to: keys.cacheKeys))
        let fooBar = try withArrayBytes(Array("foo".utf8)) { d throws(CachekitError) in
            try withArrayBytes(Array("bar".utf8)) { t throws(CachekitError) in try KeyDerivation.deriveDomainKey(masterKey: master.bytes, domain: d, tenant: t) }
        }
        let foobAr = try withArrayBytes(Array("foob".utf8)) { d throws(CachekitError) in
            try withArrayBytes(Array("ar".utf8)) { t throws(CachekitError) in try KeyDerivation.deriveDomainKey(masterKey: master.bytes, domain: d, tenant: t) }
        }
        #expect(!fooBar.isEqual(to: foobAr))
    }

    @Test func environment() throws {
        unsetenv("CACHEKIT_MASTER_KEY")
        unsetenv("CACHEKIT_PREVIOUS_MASTER_KEYS")
        #expect(status { _ = try Keyring.fromEnvironment() } == .missingMasterKey)
        setenv("CACHEKIT_MASTER_KEY", keyB, 1)
        setenv("CACHEKIT_PREVIOUS_MASTER_KEYS", " \(keyA) , ,\(keyC)", 1)
        defer {
            unsetenv("CACHEKIT_MASTER_KEY")
            unsetenv("CACHEKIT_PREVIOUS_MASTER_KEYS")
        }
        let keyring = try Keyring.fromEnvironment()
        #expect(keyring.keyCount == 3)
        let expected = try Keyring(masterKeyHex: keyB, previousKeysHex: [keyA, keyC]).fingerprints(tenant: tenant)
        #expect(try keyring.fingerprints(tenant: tenant) == expected)
        setenv("CACHEKIT_PREVIOUS_MASTER_KEYS", [keyA, keyC, String(repeating: "44", count: 32), String(repeating: "55", count: 32)].joined(separator: ","), 1)
        #expect(status { _ = try Keyring.fromEnvironment() } == .tooManyPreviousKeys)
    }
}

/// One GCMKey shared by four threads, each sealing and opening its own plaintexts: the spare
/// context and the pool hand each operation a context of its own (a shared one would mix nonces
/// and fail authentication or return another thread's bytes).
@Suite struct GCMKeySharingTests {
    @Test func concurrentSealsAndOpensOfOneKeyRoundTrip() throws {
        let threads = 4, perThread = 2_000
        let key = try GCMKey(key: SecretBytes(copying: [UInt8](repeating: 3, count: 32)))
        let failureSlots = Slots<Int>(threads, 0)
        let done = DispatchSemaphore(value: 0)
        for t in 0 ..< threads {
            let thread = Thread {
                let failures = failureSlots.buffer
                for i in 0 ..< perThread {
                    let plaintext = [UInt8](repeating: UInt8(truncatingIfNeeded: t &* 31 &+ i), count: 16 + (i % 64))
                    let nonce = [UInt8](repeating: UInt8(truncatingIfNeeded: t), count: 8) + [0, 0, UInt8(i >> 8 & 0xff), UInt8(i & 0xff)]
                    let aad = [UInt8(truncatingIfNeeded: t)]
                    do {
                        let sealed = try AESGCM.seal(key: key, nonce: nonce, plaintext: plaintext, aad: aad)
                        let opened = try sealed.withUnsafeBytes { s in
                            try aad.withUnsafeBytes { a in try AESGCM.open(key: key, payload: s, aad: a).array }
                        }
                        if opened != plaintext { failures[t] += 1 }
                    } catch {
                        failures[t] += 1
                    }
                }
                done.signal()
            }
            thread.start()
        }
        for _ in 0 ..< threads { done.wait() }
        #expect(failureSlots.buffer.reduce(0, +) == 0)
    }
}
