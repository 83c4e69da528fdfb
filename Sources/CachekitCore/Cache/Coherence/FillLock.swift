import Glibc

/// The distributed fill lock of cachekit-py 0.24.1's `@cache` miss path (redis-py's `Lock`
/// under `RedisBackend.acquire_lock`), byte for byte: the lock is `<full key>:lock`, taken with
/// `SET <lock> <token> NX PX <hold ms>`, the token a uuid4 in 32 lowercase hex digits, retried
/// every 100 ms until the next try would land past the wait, released by redis-py's
/// compare-and-delete script (EVALSHA, EVAL when the server has not cached it). A holder that
/// dies is released by the expiry; a holder past its time never deletes a successor's lock.
public struct FillLockSettings: Sendable, Equatable {
    /// On by default, as cachekit-py's async path; it applies only with a second tier that has
    /// the lock commands.
    public var enabled = true
    /// PX of the lock: cachekit-py's `lock_timeout` (30 s).
    public var holdMilliseconds = 30_000
    /// How long a caller waits for another process's holder: cachekit-py's `blocking_timeout` (5 s).
    public var waitMilliseconds = 5_000
    /// Between attempts: redis-py's `Lock.sleep` (0.1 s).
    public var pollMilliseconds = 100

    public init() {}
}

public enum FillLock {
    public static let suffix = Array(":lock".utf8)

    /// redis-py 8's `Lock.LUA_RELEASE_SCRIPT`, whitespace included, so its SHA-1 (the name the
    /// server caches it under, shared with cachekit-py processes) is the same.
    public static let releaseScript = Array(("\n        local token = redis.call('get', KEYS[1])\n" +
        "        if not token or token ~= ARGV[1] then\n            return 0\n        end\n" +
        "        redis.call('del', KEYS[1])\n        return 1\n    ").utf8)
    /// SHA-1 of `releaseScript` (checked against the server's SCRIPT LOAD in the Redis tests).
    public static let releaseScriptSHA1 = Array("c3f8721cbb97f72bc19e972846bd7aaf91901658".utf8)

    public static func lockKey(_ fullKey: [UInt8]) -> [UInt8] { fullKey + suffix }

    /// A uuid4 as `uuid.uuid4().hex` writes it: 16 random bytes, version 4, RFC 4122 variant,
    /// 32 lowercase hex digits. nil when no random bytes can be had.
    public static func newToken() -> [UInt8]? {
        guard var bytes = RandomBytes.make(16) else { return nil }
        bytes[6] = (bytes[6] & 0x0f) | 0x40
        bytes[8] = (bytes[8] & 0x3f) | 0x80
        let digits = Array("0123456789abcdef".utf8)
        var token: [UInt8] = []
        token.reserveCapacity(32)
        for byte in bytes {
            token.append(digits[Int(byte >> 4)])
            token.append(digits[Int(byte & 0x0f)])
        }
        return token
    }

    /// Whether a token has the shape `newToken` gives (what a host hands the lock exports).
    public static func isWellFormedToken(_ token: UnsafeRawBufferPointer) -> Bool {
        token.count >= 1 && token.count <= 64 && token.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }

    static func sleep(milliseconds: Int) {
        var request = timespec(tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0, errno == EINTR { request = remaining }
    }
}
