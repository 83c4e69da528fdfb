/// A point on the monotonic clock by which a whole call (connect, handshake, every write and
/// read of one command or one pipelined batch) must be done.
public struct Deadline: Sendable, Comparable {
    public let nanoseconds: Int64

    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    public static func after(milliseconds: Int) -> Deadline {
        Deadline(nanoseconds: MonotonicClock.preciseNanoseconds() &+ Int64(max(0, milliseconds)) &* 1_000_000)
    }

    /// Milliseconds left, rounded up, never negative: what poll(2) takes.
    public var remainingMilliseconds: Int32 {
        let left = nanoseconds &- MonotonicClock.preciseNanoseconds()
        if left <= 0 { return 0 }
        return Int32(clamping: (left &+ 999_999) / 1_000_000)
    }

    public var hasPassed: Bool { MonotonicClock.preciseNanoseconds() >= nanoseconds }

    public static func < (a: Deadline, b: Deadline) -> Bool { a.nanoseconds < b.nanoseconds }
}
