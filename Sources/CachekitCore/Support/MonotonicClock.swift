import Glibc

/// Monotonic time for expiries (CLOCK_MONOTONIC_COARSE: a few ns to read, ms resolution, plenty
/// for TTLs measured in seconds).
public enum MonotonicClock {
    @inline(__always)
    public static func nowNanoseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC_COARSE, &ts)
        return Int64(ts.tv_sec) &* 1_000_000_000 &+ Int64(ts.tv_nsec)
    }

    public static func preciseNanoseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) &* 1_000_000_000 &+ Int64(ts.tv_nsec)
    }
}
