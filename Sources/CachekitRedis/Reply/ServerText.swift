import CachekitCore

/// A server's `-ERR` text as `RedisValue.error` carries it. An error that may repeat the
/// credentials (`-WRONGPASS invalid password '...'` in some servers and proxies, any error
/// answering AUTH or HELLO) is replaced by a fixed text: the server's words never reach a
/// message, a log or the health report.
func sanitizedServerError(_ bytes: [UInt8], answering command: [UInt8]?) -> String {
    let code = bytes.prefix(while: { $0 != UInt8(ascii: " ") })
    let upperCode = String(decoding: code, as: UTF8.self).uppercased()
    let upperCommand = command.map { String(decoding: $0, as: UTF8.self).uppercased() }
    if upperCode == "WRONGPASS" || upperCommand == "AUTH" || upperCommand == "HELLO" {
        return "\(upperCode == "WRONGPASS" ? "WRONGPASS" : "ERR") authentication refused (server text withheld: it may repeat the credentials)"
    }
    return escapedForMessage(bytes: bytes)
}
