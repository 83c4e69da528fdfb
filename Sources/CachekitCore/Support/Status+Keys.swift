// Status codes -40 .. -59: the keys and entries sections of include/cachekit.h.
extension Status {
    // Values and keys (-40 .. -49).
    public static let nestingTooDeep = Status(rawValue: -40)
    public static let unsupportedValue = Status(rawValue: -41)
    public static let invalidUTF8 = Status(rawValue: -42)
    public static let invalidMapKey = Status(rawValue: -43)
    public static let invalidSegment = Status(rawValue: -44)
    public static let writerState = Status(rawValue: -45)
    public static let typeMismatch = Status(rawValue: -46)

    // Entries (-50 .. -59).
    public static let invalidFrame = Status(rawValue: -50)
    public static let unsupportedFrameVersion = Status(rawValue: -51)
    public static let invalidHeader = Status(rawValue: -52)
    public static let serializerMismatch = Status(rawValue: -53)
    public static let modeMismatch = Status(rawValue: -54)
    public static let notEncrypted = Status(rawValue: -55)
    public static let encryptedEntry = Status(rawValue: -56)
    public static let tenantMismatch = Status(rawValue: -57)
    public static let invalidValue = Status(rawValue: -59)

    static func describeKeys(_ status: Status) -> StaticString? {
        switch status {
        case .nestingTooDeep: return "MessagePack or JSON nesting deeper than the limit"
        case .unsupportedValue: return "a value type that is not allowed here"
        case .invalidUTF8: return "a string is not valid UTF-8"
        case .invalidMapKey: return "a map key that is not allowed (not a string, or duplicated)"
        case .invalidSegment: return "an interop namespace or operation is not a valid key segment"
        case .writerState: return "MessagePack writer misuse: container counts do not match"
        case .typeMismatch: return "the MessagePack item has another type"
        case .invalidFrame: return "not a well-formed CK v3 frame"
        case .unsupportedFrameVersion: return "CK frame version is not 3"
        case .invalidHeader: return "CK frame header is not valid JSON of the expected shape"
        case .serializerMismatch: return "entry was written by another serializer or format"
        case .modeMismatch: return "entry was written in another mode (integrity or interop)"
        case .notEncrypted: return "an encrypting reader refuses an entry that is not encrypted"
        case .encryptedEntry: return "entry is encrypted but no keyring was given"
        case .tenantMismatch: return "entry is encrypted for another tenant"
        case .invalidValue: return "stored value is not one well-formed MessagePack document"
        default: return nil
        }
    }
}
