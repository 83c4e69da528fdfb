import CCrypto

/// OpenSSL's per-thread error queue. Every crypto failure leaves entries there; the ABI drains
/// it after each failed call so no stale error leaks into a later call.
public enum OpenSSLErrors {
    public static func clear() { ERR_clear_error() }
}
