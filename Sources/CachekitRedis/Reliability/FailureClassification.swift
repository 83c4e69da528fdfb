import CachekitCore

extension CircuitBreaker {
    /// Whether an error says Redis is unhealthy, as cachekit-py's `error_classification.py` and
    /// its redis error handler sort redis-py's exceptions: timeouts and connection errors count
    /// (TIMEOUT, TRANSIENT; a TLS failure is a redis-py ConnectionError too); a server `-ERR`
    /// (ResponseError: PERMANENT) and a refused login (AUTHENTICATION) do not.
    ///
    /// Ours, where cachekit-py has no counterpart: a pool wait (`.poolTimeout`) and a backpressure
    /// shed (`.backendOverloaded`) are local queueing, not Redis failing — counting them would
    /// let ordinary load open the breaker; a value or reply over the size limit is about one
    /// entry, not the server. The server errors cachekit-py counts as TRANSIENT (READONLY,
    /// LOADING, ...) are told apart by `countsServerError(_:)`.
    public static func counts(_ error: CacheKitError) -> Bool {
        switch error.status {
        case .backendTimeout, .backendUnavailable, .tls: return true
        case .backendError: return countsServerError(error.message)
        default: return false
        }
    }

    /// The server error codes redis-py raises as ConnectionError subclasses or cluster/replica
    /// states (ReadOnlyError, BusyLoadingError, ClusterDownError, TryAgainError) and a master a
    /// replica lost (MASTERDOWN): transient, so counted. `text` is the server's error text, or a
    /// message that quotes it after ": " ("Redis GET: READONLY ..."); every word that starts the
    /// text or follows ": " is looked at.
    public static func countsServerError(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        var start = 0
        while start < bytes.count {
            if start == 0 || (start >= 2 && bytes[start - 2] == UInt8(ascii: ":") && bytes[start - 1] == UInt8(ascii: " ")) {
                var end = start
                while end < bytes.count, (bytes[end] >= UInt8(ascii: "A") && bytes[end] <= UInt8(ascii: "Z")) { end += 1 }
                if end > start, transientServerErrors.contains(Array(bytes[start..<end])) { return true }
            }
            start += 1
        }
        return false
    }

    private static let transientServerErrors: Set<[UInt8]> = Set(["READONLY", "LOADING", "CLUSTERDOWN", "TRYAGAIN", "MASTERDOWN"].map { Array($0.utf8) })
}
