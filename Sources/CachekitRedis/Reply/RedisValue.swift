/// One RESP2 reply, decoded from hiredis's reader into owned Swift values.
public enum RedisValue: Sendable, Equatable {
    /// `+OK`, `+PONG`, `+QUEUED`.
    case simple(String)
    /// `-ERR ...`: the server's text, already sanitized (control characters escaped, credentials
    /// the server echoed removed) so it may go into a message.
    case error(String)
    case integer(Int64)
    case bulk([UInt8])
    /// `$-1` or `*-1`.
    case null
    case array([RedisValue])
}
