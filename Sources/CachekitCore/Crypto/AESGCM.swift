import CCrypto
import Glibc
import Synchronization

/// AES-256-GCM with a 12-byte nonce and 16-byte tag, stored as `nonce || ciphertext || tag`.
///
/// A `GCMKey` runs the AES key schedule once and keeps initialised EVP_CIPHER_CTXs: one in an
/// atomic slot and more in a small pool. An operation borrows a context, resets only its nonce,
/// and gives it back. Contexts are not thread-safe, the slot and the pool are, so several threads
/// can seal with one key at once.
public final class GCMKey: Sendable {
    public static let keyLength = 32
    public static let nonceLength = 12
    public static let tagLength = 16
    public static let overhead = nonceLength + tagLength
    /// The largest plaintext or ciphertext accepted: 1 GiB (EVP lengths are `int`).
    public static let maxInputLength = 1 << 30
    private static let maxIdleContexts = 16

    private let key: SecretBytes
    /// The context an uncontended operation takes and returns with one atomic exchange each: the
    /// pool's lock pair cost a twelfth of a 100-byte secure L1 hit. Nil while borrowed; concurrent
    /// operations then use the pool. Holds the context pointer's bits (0: none), as pointers are not Sendable.
    private let spare = Atomic<UInt>(0)
    private let idle = Locked<[ContextBox]>([])

    /// Rejects anything but a 32-byte key.
    public init(key: SecretBytes) throws(CachekitError) {
        guard key.count == GCMKey.keyLength else {
            throw CachekitError(.keyLength, "AES-256-GCM key must be 32 bytes, got \(key.count)")
        }
        self.key = key
        spare.store(UInt(bitPattern: try makeContext().context), ordering: .releasing)
    }

    deinit {
        // EVP_CIPHER_CTX_free wipes the key schedule (OpenSSL clears provider cipher state).
        if let context = OpaquePointer(bitPattern: spare.exchange(0, ordering: .acquiring)) { EVP_CIPHER_CTX_free(context) }
        idle.withLock { contexts in
            for box in contexts { EVP_CIPHER_CTX_free(box.context) }
            contexts.removeAll()
        }
    }

    /// Encrypts `plaintext` into `output` (exactly plaintext.count + 16 bytes: ciphertext || tag).
    public func seal(
        nonce: UnsafeRawBufferPointer, plaintext: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer
    ) throws(CachekitError) {
        guard nonce.count == GCMKey.nonceLength, let nonceBase = nonce.baseAddress else {
            throw CachekitError(.invalidArgument, "AES-GCM nonce must be 12 bytes, got \(nonce.count)")
        }
        guard plaintext.count <= GCMKey.maxInputLength, aad.count <= GCMKey.maxInputLength else {
            throw CachekitError(.tooLarge, "AES-GCM input over the 1 GiB limit")
        }
        guard output.count == plaintext.count &+ GCMKey.tagLength, let outBase = output.baseAddress else {
            throw CachekitError(.invalidArgument, "AES-GCM output must be plaintext length + 16 bytes")
        }
        let box = try borrow()
        let context = box.context
        var written: Int32 = 0
        var ok = EVP_EncryptInit_ex(context, nil, nil, nil, nonceBase.assumingMemoryBound(to: UInt8.self)) == 1
        if ok, aad.count > 0, let aadBase = aad.baseAddress {
            ok = EVP_EncryptUpdate(context, nil, &written, aadBase.assumingMemoryBound(to: UInt8.self), Int32(truncatingIfNeeded: aad.count)) == 1
        }
        let out = outBase.assumingMemoryBound(to: UInt8.self)
        var produced = 0
        if ok, plaintext.count > 0, let plainBase = plaintext.baseAddress {
            ok = EVP_EncryptUpdate(context, out, &written, plainBase.assumingMemoryBound(to: UInt8.self), Int32(truncatingIfNeeded: plaintext.count)) == 1
            produced = Int(written)
        }
        if ok {
            ok = EVP_EncryptFinal_ex(context, out + produced, &written) == 1
            produced &+= Int(written)
        }
        if ok {
            ok = produced == plaintext.count
                && EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_GET_TAG, Int32(GCMKey.tagLength), out + plaintext.count) == 1
        }
        giveBack(box, healthy: ok)
        guard ok else {
            OPENSSL_cleanse(outBase, output.count)
            throw CachekitError(.internal, "OpenSSL AES-256-GCM encryption failed")
        }
    }

    /// Decrypts `ciphertext || tag` into `output` (exactly sealed.count - 16 bytes). On an
    /// authentication failure `output` is wiped before the error is thrown.
    public func open(
        nonce: UnsafeRawBufferPointer, sealed: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer
    ) throws(CachekitError) {
        try open(nonce: nonce, sealed: sealed, aad: aad, into: output, taken: nil)
    }

    /// `open` with a context already taken (`takeSpare`; given back here, also on a refused
    /// argument), or nil: borrow one.
    fileprivate func open(
        nonce: UnsafeRawBufferPointer, sealed: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer, taken: ContextBox?
    ) throws(CachekitError) {
        let nonceBase: UnsafeRawPointer, sealedBase: UnsafeRawPointer
        do throws(CachekitError) {
            (nonceBase, sealedBase) = try Self.checkOpen(nonce: nonce, sealed: sealed, aad: aad, output: output)
        } catch {
            if let taken { giveBack(taken, healthy: true) }
            throw error
        }
        let cipherCount = sealed.count &- GCMKey.tagLength
        let box: ContextBox
        if let taken { box = taken } else { box = try borrow() }
        let context = box.context
        var written: Int32 = 0
        var ok = EVP_DecryptInit_ex(context, nil, nil, nil, nonceBase.assumingMemoryBound(to: UInt8.self)) == 1
        if ok, aad.count > 0, let aadBase = aad.baseAddress {
            ok = EVP_DecryptUpdate(context, nil, &written, aadBase.assumingMemoryBound(to: UInt8.self), Int32(truncatingIfNeeded: aad.count)) == 1
        }
        // A scratch byte stands in for an empty output so OpenSSL never sees a NULL out pointer.
        var scratch: UInt8 = 0
        let produced: Int = withUnsafeMutablePointer(to: &scratch) { scratchPointer in
            let out = output.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? scratchPointer
            var total = 0
            let cipher = sealedBase.assumingMemoryBound(to: UInt8.self)
            if ok, cipherCount > 0 {
                ok = EVP_DecryptUpdate(context, out, &written, cipher, Int32(truncatingIfNeeded: cipherCount)) == 1
                total = Int(written)
            }
            if ok {
                let tag = UnsafeMutableRawPointer(mutating: sealedBase + cipherCount)
                ok = EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_TAG, Int32(GCMKey.tagLength), tag) == 1
            }
            return total
        }
        var authentic = false
        if ok {
            var scratchOut: UInt8 = 0
            authentic = withUnsafeMutablePointer(to: &scratchOut) { finalOut in
                let out = output.baseAddress.map { $0.assumingMemoryBound(to: UInt8.self) + produced } ?? finalOut
                return EVP_DecryptFinal_ex(context, out, &written) == 1
            }
        }
        giveBack(box, healthy: ok)
        guard ok else {
            if let base = output.baseAddress { OPENSSL_cleanse(base, output.count) }
            throw CachekitError(.internal, "OpenSSL AES-256-GCM decryption failed")
        }
        guard authentic else {
            // Poison: never let unauthenticated plaintext out.
            if let base = output.baseAddress { OPENSSL_cleanse(base, output.count) }
            throw CachekitError(.authenticationFailed,
                                "AES-GCM authentication failed: wrong key, tenant or AAD, or the data was altered")
        }
    }

    /// The base addresses of `open`'s arguments once they are the right sizes.
    private static func checkOpen(nonce: UnsafeRawBufferPointer, sealed: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer,
                                  output: UnsafeMutableRawBufferPointer) throws(CachekitError) -> (UnsafeRawPointer, UnsafeRawPointer) {
        guard nonce.count == GCMKey.nonceLength, let nonceBase = nonce.baseAddress else {
            throw CachekitError(.invalidArgument, "AES-GCM nonce must be 12 bytes, got \(nonce.count)")
        }
        guard sealed.count >= GCMKey.tagLength, let sealedBase = sealed.baseAddress else {
            throw CachekitError(.ciphertextTooShort, "AES-GCM data of \(sealed.count) bytes is shorter than its 16-byte tag")
        }
        guard sealed.count <= GCMKey.maxInputLength &+ GCMKey.tagLength, aad.count <= GCMKey.maxInputLength else {
            throw CachekitError(.tooLarge, "AES-GCM input over the 1 GiB limit")
        }
        guard output.count == sealed.count &- GCMKey.tagLength else {
            throw CachekitError(.invalidArgument, "AES-GCM output must be ciphertext length - 16 bytes")
        }
        return (nonceBase, sealedBase)
    }

    /// `AESGCM.open` with this key, as a method: a caller reaching the key through a stored
    /// property then borrows it instead of taking a reference count.
    func open(payload: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer) throws(CachekitError) -> OwnedBytes {
        try AESGCM.open(key: self, payload: payload, aad: aad)
    }

    // MARK: Context pool

    private func makeContext() throws(CachekitError) -> ContextBox {
        guard let context = EVP_CIPHER_CTX_new() else {
            throw CachekitError(.outOfMemory, "could not allocate an AES-GCM context")
        }
        guard EVP_EncryptInit_ex(context, EVP_aes_256_gcm(), nil, key.base, nil) == 1 else {
            EVP_CIPHER_CTX_free(context)
            throw CachekitError(.internal, "OpenSSL could not set up AES-256-GCM")
        }
        return ContextBox(context)
    }

    /// The spare context if it is free (one atomic exchange): no lock, no new context.
    fileprivate func takeSpare() -> ContextBox? {
        OpaquePointer(bitPattern: spare.exchange(0, ordering: .acquiring)).map(ContextBox.init)
    }

    private func borrow() throws(CachekitError) -> ContextBox {
        if let context = OpaquePointer(bitPattern: spare.exchange(0, ordering: .acquiring)) { return ContextBox(context) }
        if let box = idle.withLock({ $0.popLast() }) { return box }
        return try makeContext()
    }

    fileprivate func giveBack(_ box: ContextBox, healthy: Bool) {
        let bits = UInt(bitPattern: box.context)
        if healthy, spare.compareExchange(expected: 0, desired: bits, ordering: .releasing).exchanged { return }
        let keep = healthy && idle.withLock { contexts -> Bool in
            guard contexts.count < GCMKey.maxIdleContexts else { return false }
            contexts.append(box)
            return true
        }
        if !keep { EVP_CIPHER_CTX_free(box.context) }
    }
}

/// An EVP_CIPHER_CTX pointer, moved between threads only through the spare slot or the pool's lock.
private struct ContextBox: @unchecked Sendable {
    let context: OpaquePointer
    init(_ context: OpaquePointer) { self.context = context }
}

/// Process-wide instance ids: seeded once from 8 random bytes, +1 per encryptor, so no two
/// encryptors in a process share one, and processes almost surely differ.
enum InstanceIDs {
    private static let next = Locked<UInt64?>(nil)

    static func take() throws(CachekitError) -> UInt64 {
        let id: UInt64? = next.withLock { state in
            if state == nil {
                var seed: UInt64 = 0
                let ok = withUnsafeMutableBytes(of: &seed) { RAND_bytes($0.baseAddress?.assumingMemoryBound(to: UInt8.self), 8) == 1 }
                guard ok else { return nil }
                state = seed
            }
            let current = state ?? 0
            state = current &+ 1
            return current
        }
        guard let id else { throw CachekitError(.randomFailed, "RAND_bytes failed while seeding the encryptor instance id") }
        return id
    }
}

/// Seals with one key under cachekit-core's nonce scheme: nonce = 8-byte big-endian instance id
/// || 4-byte big-endian counter from 0. When the counter is spent the encryptor refuses to seal
/// (`.nonceExhausted`); it never wraps. Thread-safe: the counter is atomic.
public final class Encryptor: Sendable {
    /// cachekit-core stops at counter 2^32 - 1 (it is never used), so do we.
    public static let counterLimit: UInt64 = UInt64(UInt32.max)

    public let instanceID: UInt64
    public let key: GCMKey
    private let counter: Atomic<UInt64>

    /// The key is checked before an instance id or nonce is taken.
    public convenience init(key: SecretBytes) throws(CachekitError) {
        try self.init(key: GCMKey(key: key))
    }

    public convenience init(key: GCMKey) throws(CachekitError) {
        try self.init(key: key, startingCounter: 0)
    }

    /// `startingCounter` exists for the exhaustion test.
    init(key: GCMKey, startingCounter: UInt64) throws(CachekitError) {
        self.key = key
        instanceID = try InstanceIDs.take()
        counter = Atomic(startingCounter)
    }

    /// Nonces handed out so far (including any refused after exhaustion).
    public var counterValue: UInt64 { counter.load(ordering: .relaxed) }

    /// Returns `nonce || ciphertext || tag`.
    public func seal(plaintext: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer) throws(CachekitError) -> OwnedBytes {
        guard plaintext.count <= GCMKey.maxInputLength else {
            throw CachekitError(.tooLarge, "plaintext of \(plaintext.count) bytes exceeds the 1 GiB limit")
        }
        let output = try OwnedBytes(uninitializedCount: GCMKey.overhead &+ plaintext.count)
        let base = UnsafeMutableRawPointer(output.base)
        try writeNonce(to: base)
        try key.seal(nonce: UnsafeRawBufferPointer(start: base, count: GCMKey.nonceLength), plaintext: plaintext, aad: aad,
                     into: UnsafeMutableRawBufferPointer(start: base + GCMKey.nonceLength, count: plaintext.count &+ GCMKey.tagLength))
        return output
    }

    func writeNonce(to base: UnsafeMutableRawPointer) throws(CachekitError) {
        let count = counter.wrappingAdd(1, ordering: .relaxed).oldValue
        guard count < Encryptor.counterLimit else {
            throw CachekitError(.nonceExhausted, "this encryptor has used all 2^32 - 1 nonces; a new one is needed")
        }
        base.storeBytes(of: instanceID.bigEndian, toByteOffset: 0, as: UInt64.self)
        base.storeBytes(of: UInt32(truncatingIfNeeded: count).bigEndian, toByteOffset: 8, as: UInt32.self)
    }
}

/// Stateless helpers over `nonce || ciphertext || tag`.
public enum AESGCM {
    /// Seals with a caller-chosen nonce. Only for reproducing stored vectors in tests: reusing a
    /// nonce with one key breaks GCM, which is why it is internal.
    static func seal(key: GCMKey, nonce: [UInt8], plaintext: [UInt8], aad: [UInt8]) throws(CachekitError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: nonce.count &+ plaintext.count &+ GCMKey.tagLength)
        let n = nonce.count
        var failure: CachekitError?
        out.withUnsafeMutableBytes { buffer in
            nonce.withUnsafeBytes { nonceBytes in
                plaintext.withUnsafeBytes { plain in
                    aad.withUnsafeBytes { aadBytes in
                        do throws(CachekitError) {
                            buffer.copyMemory(from: nonceBytes)
                            try key.seal(nonce: nonceBytes, plaintext: plain, aad: aadBytes,
                                         into: UnsafeMutableRawBufferPointer(rebasing: buffer[n...]))
                        } catch { failure = error }
                    }
                }
            }
        }
        if let failure { throw failure }
        return out
    }

    /// Opens `nonce || ciphertext || tag` (at least 28 bytes).
    public static func open(key: GCMKey, payload: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer) throws(CachekitError) -> OwnedBytes {
        try open(key: key, payload: payload, aad: aad, taken: nil)
    }

    /// `open` only if the key's spare context is free, else nil: no lock is taken and nothing
    /// is allocated but the plaintext (an L1 hit decrypting inside its shard's read gate).
    static func openIfIdle(key: GCMKey, payload: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer) throws(CachekitError) -> OwnedBytes? {
        guard let context = key.takeSpare() else { return nil }
        return try open(key: key, payload: payload, aad: aad, taken: context)
    }

    private static func open(key: GCMKey, payload: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer,
                             taken: ContextBox?) throws(CachekitError) -> OwnedBytes {
        guard payload.count >= GCMKey.overhead, let base = payload.baseAddress else {
            if let taken { key.giveBack(taken, healthy: true) }
            throw CachekitError(.ciphertextTooShort, "encrypted payload of \(payload.count) bytes is shorter than nonce + tag (28)")
        }
        let output = try plaintextBuffer(payload.count &- GCMKey.overhead, key: key, taken: taken)
        try key.open(nonce: UnsafeRawBufferPointer(start: base, count: GCMKey.nonceLength),
                     sealed: UnsafeRawBufferPointer(start: base + GCMKey.nonceLength, count: payload.count &- GCMKey.nonceLength),
                     aad: aad, into: output.mutableBytes, taken: taken)
        return output
    }

    /// `count` bytes for a plaintext; on failure the taken context goes back.
    private static func plaintextBuffer(_ count: Int, key: GCMKey, taken: ContextBox?) throws(CachekitError) -> OwnedBytes {
        do throws(CachekitError) {
            return try OwnedBytes(uninitializedCount: count)
        } catch {
            if let taken { key.giveBack(taken, healthy: true) }
            throw error
        }
    }
}
