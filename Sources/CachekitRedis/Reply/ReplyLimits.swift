/// How much of one reply a call accepts. Checked on the declared sizes in the RESP headers,
/// before the body is read (ReplyHeaderScanner), so memory is bounded by these numbers and
/// not by what a server sends. A reply over a limit fails the call with `.replyTooLarge` and
/// the connection is dropped.
public struct ReplyLimits: Sendable, Hashable {
    /// Largest `$` bulk string.
    public var maxBulkBytes: Int
    /// Array elements in one reply, all nesting levels together: hiredis allocates a pointer
    /// and a reply object per declared element as soon as it reads an array's header.
    public var maxArrayElements: Int
    /// Wire bytes of one reply, headers and bodies together.
    public var maxTotalBytes: Int

    public init(maxBulkBytes: Int, maxArrayElements: Int, maxTotalBytes: Int) {
        self.maxBulkBytes = max(0, maxBulkBytes)
        self.maxArrayElements = max(0, maxArrayElements)
        self.maxTotalBytes = max(0, maxTotalBytes)
    }

    /// For commands whose replies are small (AUTH, SELECT, PING, SET, DEL, EXPIRE, ROLE,
    /// SENTINEL get-master-addr-by-name): 64 KiB, 1 024 elements.
    public static let small = ReplyLimits(maxBulkBytes: 65_536, maxArrayElements: 1_024, maxTotalBytes: 65_536)

    /// A GET of a value up to `maxValueSize` bytes, plus room for the framing.
    public static func value(maxValueSize: Int) -> ReplyLimits {
        ReplyLimits(maxBulkBytes: maxValueSize, maxArrayElements: 16, maxTotalBytes: maxValueSize &+ 1_024)
    }

    /// `count` values in one array (MGET), each up to `maxValueSize`.
    public static func values(count: Int, maxValueSize: Int) -> ReplyLimits {
        let elements = max(count, 16)
        let values = maxValueSize.multipliedReportingOverflow(by: elements)
        let framing = values.partialValue.addingReportingOverflow(64 &* elements)
        return ReplyLimits(maxBulkBytes: maxValueSize, maxArrayElements: elements,
                           maxTotalBytes: values.overflow || framing.overflow ? Int.max : framing.partialValue)
    }

    /// A pub/sub message whose payload is at most `maxPayloadBytes` (the invalidation event cap).
    public static func subscriberMessage(maxPayloadBytes: Int) -> ReplyLimits {
        ReplyLimits(maxBulkBytes: max(maxPayloadBytes, 1_024), maxArrayElements: 8, maxTotalBytes: maxPayloadBytes &+ 2_048)
    }

    /// SCAN / SSCAN pages and EVAL results: 1 MiB, 100 000 elements (a page of COUNT 1 000
    /// of keys up to 1 KiB fits well within).
    public static let scanPage = ReplyLimits(maxBulkBytes: 1_048_576, maxArrayElements: 100_000, maxTotalBytes: 8_388_608)
}
