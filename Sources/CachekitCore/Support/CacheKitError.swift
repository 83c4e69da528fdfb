/// A status code, pinned to the `CACHEKIT_*` values in include/cachekit.h.
public struct Status: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let ok = Status(rawValue: 0)
    public static let miss = Status(rawValue: 1)

    public static let nullPointer = Status(rawValue: -1)
    public static let invalidArgument = Status(rawValue: -2)
    public static let bufferTooSmall = Status(rawValue: -3)
    public static let outOfMemory = Status(rawValue: -4)
    public static let `internal` = Status(rawValue: -5)

    public static let tooLarge = Status(rawValue: -10)
    public static let invalidInput = Status(rawValue: -11)
    public static let decompressionBomb = Status(rawValue: -12)
    public static let decompressionFailed = Status(rawValue: -13)
    public static let checksumMismatch = Status(rawValue: -14)
    public static let sizeValidation = Status(rawValue: -15)
    public static let compressionFailed = Status(rawValue: -16)

    public var description: String { staticDescription.description }

    /// The static description returned by `cachekit_strerror`.
    public var staticDescription: StaticString {
        switch self {
        case .ok: return "success"
        case .miss: return "cache miss"
        case .nullPointer: return "a required pointer was NULL"
        case .invalidArgument: return "invalid argument"
        case .bufferTooSmall: return "output buffer too small"
        case .outOfMemory: return "out of memory"
        case .internal: return "internal error in an underlying library"
        case .tooLarge: return "data exceeds the maximum size"
        case .invalidInput: return "malformed input"
        case .decompressionBomb: return "decompression bomb: size ratio over the limit"
        case .decompressionFailed: return "LZ4 decompression failed"
        case .checksumMismatch: return "checksum mismatch: data is corrupted"
        case .sizeValidation: return "decoded size differs from the recorded original size"
        case .compressionFailed: return "LZ4 compression failed"
        default:
            // Each section describes its own range in its own file (StatusDescriptions+*.swift).
            return Status.describeCrypto(self) ?? Status.describeKeys(self)
                ?? Status.describeCache(self) ?? "unknown status"
        }
    }
}

/// The one error type of the core. `message` is specific and never contains key material.
public struct CacheKitError: Error, Sendable, CustomStringConvertible {
    public let status: Status
    public let message: String

    public init(_ status: Status, _ message: String) {
        self.status = status
        self.message = message
    }

    public var description: String { "\(status.description): \(message)" }
}
