extension Cache {
    /// Keeps `stored` in L1 under the full key: with its decoded document `inner` in unencrypted
    /// modes (a hit is a copy), with the codec's opening plan in secure mode (ciphertext and public
    /// bytes only: a hit authenticates and decrypts without re-parsing the frame or rebuilding the AAD).
    func keepInL1(_ full: [UInt8], _ key: UnsafeRawBufferPointer, _ stored: UnsafeRawBufferPointer,
                  inner: UnsafeRawBufferPointer, ttlNanoseconds: Int64, countsAsAccess: Bool = true) {
        if keepsDecodedView {
            _ = l1.set(key, stored, decoded: inner, ttlNanoseconds: ttlNanoseconds, countsAsAccess: countsAsAccess)
            return
        }
        // Bound with `if let` so the plan stays alive through the copy (`plan?.bytes` would end it first).
        if l1.isEnabled, let plan = codec.l1Plan(stored, inner: inner, redisKey: full) {
            _ = l1.set(key, stored, plan: plan.bytes, ttlNanoseconds: ttlNanoseconds, countsAsAccess: countsAsAccess)
        } else {
            _ = l1.set(key, stored, ttlNanoseconds: ttlNanoseconds, countsAsAccess: countsAsAccess)
        }
    }

    /// An L1 hit of the built-in codec's encrypted entries: decrypted straight from the slot's
    /// ciphertext inside L1's read gate into the one buffer the value is returned in (no copy
    /// of the ciphertext first), the envelope checked and unwrapped after leaving the gate.
    /// Whatever cannot be done without a lock (another tenant or key, a busy context) or fails
    /// is read from a copy instead (`decodeL1Copy`).
    @inline(never)  // keeps the plain hit's getFromL1 small enough to inline into read
    func openFromL1(_ full: UnsafeRawBufferPointer) throws(CachekitError) -> OwnedBytes? {
        var kind = EntryPlan.Kind.envelope
        let read = try l1.get(full, openingPlan: { stored, plan throws(CachekitError) -> OwnedBytes? in
            try planKeyring?.decryptL1PlanIfIdle(stored, plan: plan, kind: &kind)
        })
        guard let read else { return nil }
        switch consume read {
        case .copied(let hit, let serial):
            return try decodeL1Copy(hit, full, serial: serial)
        case .opened(let plaintext, let serial):
            do throws(CachekitError) {
                return try EntryPlan.finish(plaintext, kind: kind)
            } catch where error.status == .outOfMemory {
                throw error
            } catch {
                // The tag authenticated the ciphertext, so this is the envelope's failure, which
                // noteDecodeFailure does not count (it reads the stored bytes only for decryption
                // failures): none are passed.
                try dropUndecodableL1Entry(full, serial: serial, error, stored: UnsafeRawBufferPointer(start: nil, count: 0))
                return nil
            }
        }
    }

    /// An L1 hit that carries its plan after the stored bytes.
    func decodeWithPlan(_ both: UnsafeRawBufferPointer, planCount: Int) throws(CachekitError) -> OwnedBytes {
        guard planCount > 0, planCount <= both.count else {
            throw CachekitError(.internal, "an L1 hit's plan is longer than the hit")
        }
        let storedCount = both.count &- planCount
        let stored = UnsafeRawBufferPointer(rebasing: both[..<storedCount])
        let plan = UnsafeRawBufferPointer(rebasing: both[storedCount...])
        // Called through the optional (not bound to a local first): the keyring is then borrowed
        // from the cache, with no reference count taken per hit.
        if let opened = try planKeyring?.openL1Plan(stored, plan: plan) { return opened }
        return try codec.decode(stored, plan: plan)
    }
}
