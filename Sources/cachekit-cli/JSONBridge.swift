import CachekitCore

/// MessagePack <-> JSON for the CLI. JSON has no bytes, so bin is shown as {"$bin": "<hex>"} and
/// ext as {"$ext": type, "data": "<hex>"}; put reads {"$bin": "<hex>"} back as bin. Map keys that
/// are not strings are shown as their JSON text. Floats use Python's repr (NaN, Infinity).
enum JSONBridge {
    static func json(_ value: MessagePackValue) -> JSONValue {
        switch value {
        case .nil: return .null
        case .bool(let b): return .bool(b)
        case .int(let i): return .int(i)
        case .uint(let u): return .uint(u)
        case .float32(let f): return .double(Double(f))
        case .float64(let d): return .double(d)
        case .string(let s): return .string(s)
        case .binary(let b): return .object([("$bin", .string(hexString(b)))])
        case .ext(let type, let data): return .object([("$ext", .int(Int64(type))), ("data", .string(hexString(data)))])
        case .array(let items): return .array(items.map(json))
        case .map(let pairs):
            return .object(pairs.map { pair in
                if case .string(let key) = pair.key { return (key, json(pair.value)) }
                return (JSONWriter.write(json(pair.key)), json(pair.value))
            })
        }
    }

    static func messagePack(_ value: JSONValue) throws(CachekitError) -> MessagePackValue {
        switch value {
        case .null: return .nil
        case .bool(let b): return .bool(b)
        case .int(let i): return .int(i)
        case .uint(let u): return .uint(u)
        case .double(let d): return .float64(d)
        case .string(let s): return .string(s)
        case .array(let items):
            var out: [MessagePackValue] = []
            for item in items { out.append(try messagePack(item)) }
            return .array(out)
        case .object(let members):
            if members.count == 1, members[0].0 == "$bin", case .string(let hex) = members[0].1 {
                guard let bytes = Hex.decode(hex) else { throw CachekitError(.invalidInput, "$bin is not valid hexadecimal") }
                return .binary(bytes)
            }
            var pairs: [MessagePackValue.Pair] = []
            for (key, member) in members { pairs.append(.init(.string(key), try messagePack(member))) }
            return .map(pairs)
        }
    }
}
