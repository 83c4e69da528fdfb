/// Decryption failures: counted by reason and tier, and under fail-closed (cachekit-py's
/// `encryption_fail_closed`) handed to the caller instead of read as a miss.
extension Cache {
    enum Tier { case l1, l2 }

    /// Counts a decode failure of `stored` that is a decryption failure, and rethrows it when the
    /// cache fails closed: an authentication failure (tampered, or a key this keyring lacks) or,
    /// with fail-closed on, an entry naming a key fingerprint the keyring does not hold. The
    /// caller drops its L1 copy first; an L2 entry is left in Redis as evidence, as cachekit-py
    /// leaves it. Other failures (corrupt frames, another mode) return and read as a miss.
    func noteDecodeFailure(_ error: CachekitError, _ stored: UnsafeRawBufferPointer, tier: Tier) throws(CachekitError) {
        let counters: (wrongKey: Int, tampered: Int, unknownFingerprint: Int)
        switch error.status {
        case .keyFingerprintMismatch:
            counters = (0, 0, 1)
        case .authenticationFailed:
            counters = codec.isForeign(error, stored: stored) ? (1, 0, 0) : (0, 1, 0)
        default:
            return
        }
        switch tier {
        case .l1:
            CacheStats.bump(stats.decryptWrongKeyL1, by: counters.wrongKey)
            CacheStats.bump(stats.decryptTamperedL1, by: counters.tampered)
            CacheStats.bump(stats.decryptUnknownFingerprintL1, by: counters.unknownFingerprint)
        case .l2:
            CacheStats.bump(stats.decryptWrongKeyL2, by: counters.wrongKey)
            CacheStats.bump(stats.decryptTamperedL2, by: counters.tampered)
            CacheStats.bump(stats.decryptUnknownFingerprintL2, by: counters.unknownFingerprint)
        }
        if coherence.encryptionFailClosed { throw error }
    }
}
