import Foundation
@testable import CachekitCore

/// The vectors parsed by the core's own JSON parser (files from `Vectors.directory`).
enum KeyVectors {
    static func json(_ name: String) throws -> JSONValue {
        try JSONParser.parse(try Vectors.text(name), depthLimit: 64)
    }

    /// One JSON object per line.
    static func jsonLines(_ name: String) throws -> [JSONValue] {
        try Vectors.text(name).split(separator: "\n").map { line in try JSONParser.parse(String(line), depthLimit: 64) }
    }
}

func bytes(hex: String) -> [UInt8] {
    var out: [UInt8] = []
    var index = hex.startIndex
    while index < hex.endIndex {
        let next = hex.index(index, offsetBy: 2)
        out.append(UInt8(hex[index..<next], radix: 16) ?? 0)
        index = next
    }
    return out
}

extension JSONValue {
    var string: String? { if case .string(let s) = self { return s } else { return nil } }
    var bool: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    var array: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }

    /// JSON test data as MessagePack values (ints stay ints, floats float64).
    var messagePack: MessagePackValue {
        switch self {
        case .null: return .nil
        case .bool(let b): return .bool(b)
        case .int(let i): return .int(i)
        case .uint(let u): return .uint(u)
        case .double(let d): return .float64(d)
        case .string(let s): return .string(s)
        case .array(let items): return .array(items.map(\.messagePack))
        case .object(let members): return .map(members.map { .init(.string($0.0), $0.1.messagePack) })
        }
    }
}
