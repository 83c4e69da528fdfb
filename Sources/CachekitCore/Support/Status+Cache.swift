// Status codes -60 .. -79: the cache section of include/cachekit.h.
extension Status {
    public static let backendUnavailable = Status(rawValue: -60)
    public static let backendTimeout = Status(rawValue: -61)
    public static let backendError = Status(rawValue: -62)
    public static let valueTooLarge = Status(rawValue: -63)
    public static let invalidConfig = Status(rawValue: -64)
    public static let unknownOption = Status(rawValue: -65)
    public static let computeFailed = Status(rawValue: -66)
    public static let modeUnavailable = Status(rawValue: -67)
    public static let invalidKey = Status(rawValue: -68)
    public static let tls = Status(rawValue: -69)
    public static let backendOverloaded = Status(rawValue: -70)
    public static let circuitOpen = Status(rawValue: -71)
    public static let replyTooLarge = Status(rawValue: -72)
    public static let backendAuth = Status(rawValue: -73)
    public static let sweepIncomplete = Status(rawValue: -74)
    public static let poolTimeout = Status(rawValue: -75)

    static func describeCache(_ status: Status) -> StaticString? {
        switch status {
        case .backendUnavailable: return "cache backend (Redis) unavailable"
        case .backendTimeout: return "cache backend (Redis) timed out"
        case .backendError: return "cache backend (Redis) returned an error"
        case .valueTooLarge: return "value exceeds the cache's maximum value size"
        case .invalidConfig: return "invalid cache configuration value"
        case .unknownOption: return "unknown cache configuration option"
        case .computeFailed: return "the get-or-compute callback failed"
        case .modeUnavailable: return "cache mode unavailable with this configuration"
        case .invalidKey: return "invalid cache key (empty, too long or not UTF-8)"
        case .tls: return "TLS handshake or certificate verification with Redis failed"
        case .backendOverloaded: return "Redis operation shed: too many in flight"
        case .circuitOpen: return "Redis skipped: circuit breaker open"
        case .replyTooLarge: return "Redis reply exceeds the limit for the command"
        case .backendAuth: return "Redis refused the credentials"
        case .sweepIncomplete: return "Redis sweep stopped at its bound before the end"
        case .poolTimeout: return "no Redis connection came free within pool_timeout_ms"
        default: return nil
        }
    }
}
