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
