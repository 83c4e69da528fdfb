/// Text from outside (a server's error, a socket path, a query name) made safe for a message:
/// control characters, backslashes and bytes that are not UTF-8 become `\xNN`, so a server
/// cannot inject lines or terminal escapes into a log. Long text is cut at `limit` bytes.
func escapedForMessage(_ text: String, limit: Int = 512) -> String {
    escapedForMessage(bytes: Array(text.utf8), limit: limit)
}

func escapedForMessage(bytes: [UInt8], limit: Int = 512) -> String {
    var out = ""
    out.reserveCapacity(min(bytes.count, limit))
    var index = 0
    let hex: [Character] = Array("0123456789abcdef")
    func escape(_ byte: UInt8) {
        out += "\\x"
        out.append(hex[Int(byte >> 4)])
        out.append(hex[Int(byte & 0x0f)])
    }
    while index < bytes.count {
        if out.utf8.count >= limit {
            out += "..."
            break
        }
        let byte = bytes[index]
        if byte < 0x20 || byte == 0x7f || byte == UInt8(ascii: "\\") {
            escape(byte)
            index &+= 1
        } else if byte < 0x80 {
            out.unicodeScalars.append(Unicode.Scalar(byte))
            index &+= 1
        } else {
            // One well-formed UTF-8 sequence passes whole; anything else is escaped byte by byte.
            let length = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1
            let end = index &+ length
            if length > 1, end <= bytes.count,
               let scalar = String(validating: bytes[index..<end], as: UTF8.self),
               !scalar.unicodeScalars.contains(where: { (0x80...0x9f).contains($0.value) || $0.value == 0x2028 || $0.value == 0x2029 }) {
                out += scalar
                index = end
            } else {
                escape(byte)
                index &+= 1
            }
        }
    }
    return out
}

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
