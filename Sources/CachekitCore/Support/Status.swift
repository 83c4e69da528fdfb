/// A status code, pinned to the `CACHEKIT_*` values in include/cachekit.h (checked by
/// Tests/CachekitABITests). Here: success, miss and misuse (-1 .. -9); each other family in its
/// own file: Status+Codec, Status+Crypto, Status+Keys (values, keys, entries), Status+Cache.
public struct Status: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let ok = Status(rawValue: 0)
    public static let miss = Status(rawValue: 1)
    /// get_or_compute served an expired copy because the compute failed (stale_if_error).
    public static let stale = Status(rawValue: 2)

    public static let nullPointer = Status(rawValue: -1)
    public static let invalidArgument = Status(rawValue: -2)
    public static let bufferTooSmall = Status(rawValue: -3)
    public static let outOfMemory = Status(rawValue: -4)
    public static let `internal` = Status(rawValue: -5)
    public static let misuse = Status(rawValue: -6)

    public var description: String { staticDescription.description }

    /// The static description returned by `cachekit_strerror`.
    public var staticDescription: StaticString {
        switch self {
        case .ok: return "success"
        case .miss: return "cache miss"
        case .stale: return "stale value served: the compute failed within stale_if_error"
        case .nullPointer: return "a required pointer was NULL"
        case .invalidArgument: return "invalid argument"
        case .bufferTooSmall: return "output buffer too small"
        case .outOfMemory: return "out of memory"
        case .internal: return "internal error in an underlying library"
        case .misuse: return "a handle that was freed, or is not of the type the function takes"
        default:
            // Each family describes its own range in its own file (Status+Codec.swift, ...).
            return Status.describeCodec(self) ?? Status.describeCrypto(self) ?? Status.describeKeys(self)
                ?? Status.describeCache(self) ?? "unknown status"
        }
    }
}
