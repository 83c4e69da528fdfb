import CachekitCore

/// A server's `-ERR` text as `RedisValue.error` carries it. An error that may repeat the
/// credentials (`-WRONGPASS invalid password '...'` in some servers and proxies, any error
/// answering AUTH or HELLO, any error containing the connection's password) is replaced by a
/// fixed text: the server's words never reach a message, a log or the health report. Other
/// text is escaped (control characters as \xNN), so it cannot forge log lines or terminal codes.
func sanitizedServerError(_ bytes: [UInt8], answering command: [UInt8]?, password: SecretBytes? = nil) -> String {
    withheldServerError(bytes, answering: command, password: password) ?? escapedForMessage(bytes: bytes)
}

/// The fixed text for an error that must not be shown, or nil when it may be (escaped).
func withheldServerError(_ bytes: [UInt8], answering command: [UInt8]?, password: SecretBytes?) -> String? {
    let code = bytes.prefix(while: { $0 != UInt8(ascii: " ") })
    let upperCode = String(decoding: code, as: UTF8.self).uppercased()
    let upperCommand = command.map { String(decoding: $0, as: UTF8.self).uppercased() }
    if upperCode == "WRONGPASS" || upperCommand == "AUTH" || upperCommand == "HELLO" {
        return "\(upperCode == "WRONGPASS" ? "WRONGPASS" : "ERR") authentication refused (server text withheld: it may repeat the credentials)"
    }
    if let password, bytes.withUnsafeBytes({ password.occurs(in: $0) }) {
        return "ERR (server text withheld: it repeats the password)"
    }
    return nil
}
