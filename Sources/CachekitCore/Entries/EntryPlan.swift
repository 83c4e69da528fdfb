/// A secure entry's opening plan: what `Entry.decode` learns from a stored value before it
/// decrypts (the checked frame header and the AAD), kept beside the ciphertext in L1 so a hit only
/// authenticates, decrypts and unwraps. Every byte is public (the frame header is plaintext in
/// Redis, the AAD is the tenant, key and format); never plaintext or key material.
///
/// A plan is made only after the entry decoded (read from Redis) or was encoded (written here),
/// so its header passed every check and its document was validated; AES-GCM authenticates the
/// ciphertext against the plan's AAD on every hit, so the plaintext is the one validated then.
///
/// Layout: payload offset (UInt32 LE) in the stored value, kind, fingerprint length and bytes,
/// tenant length (UInt16 LE) and bytes, then the AAD to the end.
enum EntryPlan {
    enum Kind: UInt8 {
        case envelope = 0  // auto: a ByteStorage envelope inside the ciphertext
        case bare = 1      // minimal: the document inside the ciphertext
        case interop = 2   // interop: the whole value is the ciphertext of the document
    }

    /// The plan of `stored`, whose document is `inner`, or nil when it has none (not encrypted,
    /// or a header this reader refuses: such a value is decoded in full at every read).
    static func make(_ stored: UnsafeRawBufferPointer, inner: UnsafeRawBufferPointer, mode: EntryMode, key: String,
                     security: EntrySecurity) -> OwnedBytes? {
        do throws(CachekitError) {
            switch mode {
            case .interop:
                let aad = try Entry.entryAAD(tenant: security.tenant, key: key, compressed: false, originalType: nil)
                return try encode(offset: 0, kind: .interop, fingerprint: nil, tenant: security.tenant, aad: aad)
            case .auto, .minimal:
                let (headerRange, payloadRange) = try Frame.split(stored)
                let header = try Frame.parseHeader(UnsafeRawBufferPointer(rebasing: stored[headerRange]))
                try Entry.checkSerializer(header)
                let metadata = header.metadata
                let integrity = mode == .auto
                guard metadata.encrypted, metadata.compressed == integrity,
                      let tenant = metadata.tenantID, !tenant.isEmpty,
                      !security.requireTenantMatch || tenant == security.tenant,
                      integrity || !Entry.looksLikeEnvelope(inner, legacyOnly: true) else { return nil }
                let aad = try Entry.entryAAD(tenant: tenant, key: key, compressed: metadata.compressed,
                                             originalType: metadata.originalType)
                return try encode(offset: payloadRange.lowerBound, kind: integrity ? .envelope : .bare,
                                  fingerprint: metadata.keyFingerprint, tenant: tenant, aad: aad)
            }
        } catch {
            return nil
        }
    }

    private static func encode(offset: Int, kind: Kind, fingerprint: String?, tenant: String,
                               aad: [UInt8]) throws(CachekitError) -> OwnedBytes? {
        let fingerprintBytes = Array((fingerprint ?? "").utf8)
        let tenantBytes = Array(tenant.utf8)
        guard let offset32 = UInt32(exactly: offset), fingerprintBytes.count <= 255,
              let tenantCount = UInt16(exactly: tenantBytes.count) else { return nil }
        var header: [UInt8] = [UInt8(truncatingIfNeeded: offset32), UInt8(truncatingIfNeeded: offset32 >> 8),
                               UInt8(truncatingIfNeeded: offset32 >> 16), UInt8(truncatingIfNeeded: offset32 >> 24),
                               kind.rawValue, UInt8(truncatingIfNeeded: fingerprintBytes.count)]
        header += fingerprintBytes
        header += [UInt8(truncatingIfNeeded: tenantCount), UInt8(truncatingIfNeeded: tenantCount >> 8)]
        header += tenantBytes
        let plan = try OwnedBytes(uninitializedCount: header.count &+ aad.count)
        header.withUnsafeBytes { plan.mutableBytes.copyMemory(from: $0) }
        aad.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: plan.mutableBytes[header.count...]).copyMemory(from: $0) }
        return plan
    }

    /// The document of `stored` opened with its `plan`: decrypted under the plan's AAD (the
    /// keyring picks the key by fingerprint, as `Entry.decode` does), the envelope's checksum
    /// verified and its payload decompressed (a literals-only one in place).
    static func open(_ stored: UnsafeRawBufferPointer, plan: UnsafeRawBufferPointer,
                     keyring: Keyring) throws(CachekitError) -> OwnedBytes {
        let parts = try Parts(stored, plan: plan)
        let plaintext = try keyring.decrypt(payload: parts.payload, aad: parts.aad, tenantUTF8: parts.tenant,
                                            fingerprintUTF8: parts.fingerprint)
        return try finish(plaintext, kind: parts.kind)
    }

    /// The first half of `open`, for a reader that must not wait (an L1 hit inside its shard's
    /// read gate, reading the slot's own bytes): the plaintext, decrypted only when the keyring
    /// needs no lock for it (`Keyring.decryptIfIdle`), else nil. `finish` it with `kind`, after
    /// leaving the gate.
    static func decryptIfIdle(_ stored: UnsafeRawBufferPointer, plan: UnsafeRawBufferPointer, keyring: Keyring,
                              kind: inout Kind) throws(CachekitError) -> OwnedBytes? {
        let parts = try Parts(stored, plan: plan)
        kind = parts.kind
        return try keyring.decryptIfIdle(payload: parts.payload, aad: parts.aad, tenantUTF8: parts.tenant,
                                         fingerprintUTF8: parts.fingerprint)
    }

    /// The document in a plan's decrypted `plaintext`: an envelope is checked and unwrapped
    /// (the plaintext wiped on failure, `Envelope.retrieve(taking:)`).
    static func finish(_ plaintext: consuming OwnedBytes, kind: Kind) throws(CachekitError) -> OwnedBytes {
        switch kind {
        case .envelope: return try Envelope.retrieve(taking: plaintext)
        case .bare, .interop: return plaintext
        }
    }

    /// A plan read against its stored value.
    private struct Parts {
        let payload: UnsafeRawBufferPointer
        let kind: Kind
        let fingerprint: UnsafeRawBufferPointer
        let tenant: UnsafeRawBufferPointer
        let aad: UnsafeRawBufferPointer

        @inline(__always)
        init(_ stored: UnsafeRawBufferPointer, plan: UnsafeRawBufferPointer) throws(CachekitError) {
            var reader = PlanReader(plan)
            let offset = Int(try reader.uint32())
            guard let kind = Kind(rawValue: try reader.byte()) else { throw malformed }
            self.kind = kind
            fingerprint = try reader.take(Int(try reader.byte()))
            tenant = try reader.take(Int(try reader.uint16()))
            aad = reader.rest
            guard offset <= stored.count else { throw malformed }
            payload = UnsafeRawBufferPointer(rebasing: stored[offset...])
        }
    }

    private static var malformed: CachekitError { CachekitError(.internal, "an L1 entry's opening plan is malformed") }

    /// Bounds-checked reads of a plan (inlined: as calls they were a fortieth of a secure hit).
    private struct PlanReader {
        let bytes: UnsafeRawBufferPointer
        var cursor = 0

        init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

        @inline(__always)
        mutating func take(_ count: Int) throws(CachekitError) -> UnsafeRawBufferPointer {
            guard count >= 0, count <= bytes.count &- cursor else { throw EntryPlan.malformed }
            defer { cursor &+= count }
            return UnsafeRawBufferPointer(rebasing: bytes[cursor..<(cursor &+ count)])
        }

        @inline(__always)
        mutating func byte() throws(CachekitError) -> UInt8 { try take(1)[0] }

        @inline(__always)
        mutating func uint16() throws(CachekitError) -> UInt16 {
            let b = try take(2)
            return UInt16(b[0]) | UInt16(b[1]) << 8
        }

        @inline(__always)
        mutating func uint32() throws(CachekitError) -> UInt32 {
            let b = try take(4)
            return UInt32(b[0]) | UInt32(b[1]) << 8 | UInt32(b[2]) << 16 | UInt32(b[3]) << 24
        }

        @inline(__always)
        var rest: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: bytes[cursor...]) }
    }
}

extension Keyring {
    /// `EntryPlan.open` with this keyring.
    func openL1Plan(_ stored: UnsafeRawBufferPointer, plan: UnsafeRawBufferPointer) throws(CachekitError) -> OwnedBytes {
        try EntryPlan.open(stored, plan: plan, keyring: self)
    }

    /// `EntryPlan.decryptIfIdle` with this keyring.
    func decryptL1PlanIfIdle(_ stored: UnsafeRawBufferPointer, plan: UnsafeRawBufferPointer,
                             kind: inout EntryPlan.Kind) throws(CachekitError) -> OwnedBytes? {
        try EntryPlan.decryptIfIdle(stored, plan: plan, keyring: self, kind: &kind)
    }
}
