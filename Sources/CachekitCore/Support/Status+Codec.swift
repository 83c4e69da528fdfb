// Status codes -10 .. -19: the codec (envelope, LZ4, checksums) of include/cachekit.h.
extension Status {
    public static let tooLarge = Status(rawValue: -10)
    public static let invalidInput = Status(rawValue: -11)
    public static let decompressionBomb = Status(rawValue: -12)
    public static let decompressionFailed = Status(rawValue: -13)
    public static let checksumMismatch = Status(rawValue: -14)
    public static let sizeValidation = Status(rawValue: -15)
    public static let compressionFailed = Status(rawValue: -16)

    static func describeCodec(_ status: Status) -> StaticString? {
        switch status {
        case .tooLarge: return "data exceeds the maximum size"
        case .invalidInput: return "malformed input"
        case .decompressionBomb: return "decompression bomb: size ratio over the limit"
        case .decompressionFailed: return "LZ4 decompression failed"
        case .checksumMismatch: return "checksum mismatch: data is corrupted"
        case .sizeValidation: return "decoded size differs from the recorded original size"
        case .compressionFailed: return "LZ4 compression failed"
        default: return nil
        }
    }
}
