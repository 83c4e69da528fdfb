/// A small strict JSON reader and writer: enough for CK frame headers (which Python writes with
/// `json.dumps`) and for the operator CLI. Parsing is bounded by size and nesting limits.
public indirect enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    /// Members in document order; duplicates kept (lookups take the last, as Python does).
    case object([(String, JSONValue)])

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.int(let a), .int(let b)): return a == b
        case (.uint(let a), .uint(let b)): return a == b
        case (.double(let a), .double(let b)): return a.bitPattern == b.bitPattern
        case (.string(let a), .string(let b)): return a == b
        case (.array(let a), .array(let b)): return a == b
        case (.object(let a), .object(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.last(where: { $0.0 == key })?.1
    }
}

public struct JSONParser {
    private let bytes: UnsafeRawBufferPointer
    private var offset = 0
    private let depthLimit: Int

    /// Parses one JSON document (surrounding whitespace allowed). Like Python's `json.loads`, it
    /// accepts NaN, Infinity and -Infinity; unlike it, lone surrogate escapes are refused (they
    /// are not UTF-8). Errors are `.invalidHeader`-free: the caller picks the status.
    public static func parse(
        _ bytes: UnsafeRawBufferPointer, depthLimit: Int = 64
    ) throws(CachekitError) -> JSONValue {
        var parser = JSONParser(bytes: bytes, depthLimit: depthLimit)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.offset == bytes.count else { throw parser.error("unexpected data after the JSON document") }
        return value
    }

    public static func parse(_ text: String, depthLimit: Int = 64) throws(CachekitError) -> JSONValue {
        try withBytes(Array(text.utf8)) { raw throws(CachekitError) in try parse(raw, depthLimit: depthLimit) }
    }

    private init(bytes: UnsafeRawBufferPointer, depthLimit: Int) {
        self.bytes = bytes
        self.depthLimit = depthLimit
    }

    private func error(_ message: String) -> CachekitError {
        CachekitError(.invalidInput, "invalid JSON at offset \(offset): \(message)")
    }

    private var current: UInt8? { offset < bytes.count ? bytes[offset] : nil }

    private mutating func skipWhitespace() {
        while let byte = current, byte == 0x20 || byte == 0x0a || byte == 0x0d || byte == 0x09 { offset &+= 1 }
    }

    private mutating func expect(_ literal: StaticString) throws(CachekitError) {
        let count = literal.utf8CodeUnitCount
        guard bytes.count &- offset >= count else { throw error("truncated literal") }
        for index in 0..<count where bytes[offset &+ index] != literal.utf8Start[index] {
            throw error("invalid literal")
        }
        offset &+= count
    }

    private mutating func parseValue(depth: Int) throws(CachekitError) -> JSONValue {
        guard let byte = current else { throw error("unexpected end of input") }
        switch byte {
        case UInt8(ascii: "{"):
            guard depth < depthLimit else { throw CachekitError(.nestingTooDeep, "JSON nesting deeper than \(depthLimit) levels") }
            offset &+= 1
            var members: [(String, JSONValue)] = []
            skipWhitespace()
            if current == UInt8(ascii: "}") { offset &+= 1; return .object(members) }
            while true {
                skipWhitespace()
                guard current == UInt8(ascii: "\"") else { throw error("expected a string key") }
                let key = try parseString()
                skipWhitespace()
                guard current == UInt8(ascii: ":") else { throw error("expected ':'") }
                offset &+= 1
                skipWhitespace()
                members.append((key, try parseValue(depth: depth &+ 1)))
                skipWhitespace()
                if current == UInt8(ascii: ",") { offset &+= 1; continue }
                if current == UInt8(ascii: "}") { offset &+= 1; return .object(members) }
                throw error("expected ',' or '}'")
            }
        case UInt8(ascii: "["):
            guard depth < depthLimit else { throw CachekitError(.nestingTooDeep, "JSON nesting deeper than \(depthLimit) levels") }
            offset &+= 1
            var items: [JSONValue] = []
            skipWhitespace()
            if current == UInt8(ascii: "]") { offset &+= 1; return .array(items) }
            while true {
                skipWhitespace()
                items.append(try parseValue(depth: depth &+ 1))
                skipWhitespace()
                if current == UInt8(ascii: ",") { offset &+= 1; continue }
                if current == UInt8(ascii: "]") { offset &+= 1; return .array(items) }
                throw error("expected ',' or ']'")
            }
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expect("true"); return .bool(true)
        case UInt8(ascii: "f"): try expect("false"); return .bool(false)
        case UInt8(ascii: "n"): try expect("null"); return .null
        case UInt8(ascii: "N"): try expect("NaN"); return .double(.nan)
        case UInt8(ascii: "I"): try expect("Infinity"); return .double(.infinity)
        default: return try parseNumber()
        }
    }

    private mutating func parseNumber() throws(CachekitError) -> JSONValue {
        let start = offset
        if current == UInt8(ascii: "-") {
            offset &+= 1
            if current == UInt8(ascii: "I") { try expect("Infinity"); return .double(-.infinity) }
        }
        func isDigit(_ b: UInt8?) -> Bool { b.map { $0 >= 0x30 && $0 <= 0x39 } ?? false }
        guard isDigit(current) else { throw error("invalid value") }
        if current == UInt8(ascii: "0") { offset &+= 1 } else { while isDigit(current) { offset &+= 1 } }
        var isInteger = true
        if current == UInt8(ascii: ".") {
            isInteger = false
            offset &+= 1
            guard isDigit(current) else { throw error("digit expected after '.'") }
            while isDigit(current) { offset &+= 1 }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            isInteger = false
            offset &+= 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { offset &+= 1 }
            guard isDigit(current) else { throw error("digit expected in exponent") }
            while isDigit(current) { offset &+= 1 }
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<offset]), as: UTF8.self)
        if isInteger {
            if let value = Int64(text) { return value >= 0 ? .uint(UInt64(value)) : .int(value) }
            if let value = UInt64(text) { return .uint(value) }
            throw error("integer out of the 64-bit range")
        }
        guard let value = Double(text) else { throw error("invalid number") }
        return .double(value)
    }

    private mutating func parseHex4() throws(CachekitError) -> UInt32 {
        guard bytes.count &- offset >= 4 else { throw error("truncated \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[offset]
            let digit: UInt32
            switch byte {
            case 0x30...0x39: digit = UInt32(byte &- 0x30)
            case 0x41...0x46: digit = UInt32(byte &- 0x41 &+ 10)
            case 0x61...0x66: digit = UInt32(byte &- 0x61 &+ 10)
            default: throw error("invalid \\u escape")
            }
            value = value << 4 | digit
            offset &+= 1
        }
        return value
    }

    private mutating func parseString() throws(CachekitError) -> String {
        offset &+= 1 // opening quote
        var out: [UInt8] = []
        while true {
            guard let byte = current else { throw error("unterminated string") }
            offset &+= 1
            switch byte {
            case UInt8(ascii: "\""):
                guard let text = String(validating: out, as: UTF8.self) else {
                    throw CachekitError(.invalidUTF8, "JSON string is not valid UTF-8")
                }
                return text
            case UInt8(ascii: "\\"):
                guard let escape = current else { throw error("unterminated escape") }
                offset &+= 1
                switch escape {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5c)
                case UInt8(ascii: "/"): out.append(0x2f)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0c)
                case UInt8(ascii: "n"): out.append(0x0a)
                case UInt8(ascii: "r"): out.append(0x0d)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try parseHex4()
                    if scalar >= 0xd800 && scalar < 0xdc00 {
                        guard bytes.count &- offset >= 6, bytes[offset] == 0x5c, bytes[offset &+ 1] == UInt8(ascii: "u") else {
                            throw CachekitError(.invalidUTF8, "JSON string holds a lone surrogate")
                        }
                        offset &+= 2
                        let low = try parseHex4()
                        guard low >= 0xdc00 && low < 0xe000 else {
                            throw CachekitError(.invalidUTF8, "JSON string holds a lone surrogate")
                        }
                        scalar = 0x10000 &+ ((scalar &- 0xd800) << 10) &+ (low &- 0xdc00)
                    }
                    guard let unicode = Unicode.Scalar(scalar) else {
                        throw CachekitError(.invalidUTF8, "JSON string holds a lone surrogate")
                    }
                    out.append(contentsOf: String(Character(unicode)).utf8)
                default: throw error("invalid escape")
                }
            case 0x00..<0x20: throw error("control character in string")
            default: out.append(byte)
            }
        }
    }
}

// MARK: Writing

public enum JSONWriter {
    /// Python's `json.dumps(value, ensure_ascii=False)` string escaping.
    public static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0c}": out += "\\f"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 &- hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    /// Python `json.dumps` style (", " and ": " separators); floats in shortest round-trip form.
    public static func write(_ value: JSONValue) -> String {
        var out = ""
        write(value, into: &out)
        return out
    }

    static func write(_ value: JSONValue, into out: inout String) {
        switch value {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .uint(let u): out += String(u)
        case .double(let d): out += formatDouble(d)
        case .string(let s): out += quoted(s)
        case .array(let items):
            out += "["
            for (index, item) in items.enumerated() {
                if index > 0 { out += ", " }
                write(item, into: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (index, member) in members.enumerated() {
                if index > 0 { out += ", " }
                out += quoted(member.0) + ": "
                write(member.1, into: &out)
            }
            out += "}"
        }
    }

    /// Python's float repr: NaN, Infinity, -Infinity, and a ".0" on integral values.
    public static func formatDouble(_ d: Double) -> String {
        if d.isNaN { return "NaN" }
        if d.isInfinite { return d < 0 ? "-Infinity" : "Infinity" }
        let text = d.description
        if text.contains(".") || text.contains("e") { return text }
        return text + ".0"
    }
}
