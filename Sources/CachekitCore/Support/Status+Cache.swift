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
        default: return nil
        }
    }
}
