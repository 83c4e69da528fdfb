import CachekitCore
import CCrypto
import CHiredis

/// One argument of a command. Large values are never copied before hiredis formats the
/// command: `.bytes` shares the array's storage, `.borrowed` points at the caller's memory.
public enum RedisArgument: ExpressibleByStringLiteral {
    case text(String)
    case bytes([UInt8])
    case integer(Int64)
    /// Bytes the caller owns; they must stay valid and unchanged until the call returns.
    case borrowed(UnsafeRawBufferPointer)

    public init(stringLiteral value: String) { self = .text(value) }
}

/// A command in RESP, formatted by `redisFormatCommandArgv` (the one copy of each argument),
/// freed with `redisFreeCommand`; wiped first when it carries credentials.
final class FormattedCommand {
    let bytes: UnsafeRawBufferPointer
    /// The command's name, upper-cased, when short: errors answering AUTH or HELLO are withheld.
    let name: [UInt8]?
    private let storage: UnsafeMutablePointer<CChar>
    private let carriesSecret: Bool

    private init(storage: UnsafeMutablePointer<CChar>, count: Int, name: [UInt8]?, carriesSecret: Bool) {
        self.storage = storage
        self.bytes = UnsafeRawBufferPointer(start: storage, count: count)
        self.name = name
        self.carriesSecret = carriesSecret
    }

    deinit {
        if carriesSecret { OPENSSL_cleanse(storage, bytes.count) }
        redisFreeCommand(storage)
    }

    /// Arguments up to this size are gathered into one scratch block; larger ones are passed
    /// to hiredis where they are.
    private static let smallArgumentBytes = 1_024

    private enum Piece {
        case scratch(offset: Int, count: Int)
        case pointer(UnsafeRawBufferPointer)
        case large(index: Int)
    }

    static func format(_ arguments: [RedisArgument], carriesSecret: Bool = false) throws(CachekitError) -> FormattedCommand {
        guard !arguments.isEmpty, arguments.count < Int(Int32.max) else {
            throw CachekitError(.invalidArgument, "a Redis command needs 1 to 2^31-1 arguments")
        }
        var scratch: [UInt8] = []
        var pieces: [Piece] = []
        pieces.reserveCapacity(arguments.count)
        var large: [Int] = []
        for (index, argument) in arguments.enumerated() {
            switch argument {
            case .text(let text) where text.utf8.count <= smallArgumentBytes:
                pieces.append(.scratch(offset: scratch.count, count: text.utf8.count))
                scratch.append(contentsOf: text.utf8)
            case .bytes(let bytes) where bytes.count <= smallArgumentBytes:
                pieces.append(.scratch(offset: scratch.count, count: bytes.count))
                scratch.append(contentsOf: bytes)
            case .integer(let value):
                let digits = String(value).utf8
                pieces.append(.scratch(offset: scratch.count, count: digits.count))
                scratch.append(contentsOf: digits)
            case .borrowed(let buffer):
                pieces.append(.pointer(buffer))
            case .text, .bytes:
                pieces.append(.large(index: index))
                large.append(index)
            }
        }
        // Never empty, so an empty argument always has a valid pointer to name.
        scratch.append(0)
        defer {
            if carriesSecret { scratch.withUnsafeMutableBytes { OPENSSL_cleanse($0.baseAddress, $0.count) } }
        }
        let name: [UInt8]? = {
            switch arguments[0] {
            case .text(let text) where text.utf8.count <= 32: return Array(text.uppercased().utf8)
            case .bytes(let bytes) where bytes.count <= 32: return Array(String(decoding: bytes, as: UTF8.self).uppercased().utf8)
            default: return nil
            }
        }()
        var largePointers: [Int: UnsafeRawBufferPointer] = [:]
        let outcome = withLargeArguments(arguments, large[...], &largePointers) { largePointers in
            scratch.withUnsafeBytes { scratchBytes -> Result<(UnsafeMutablePointer<CChar>, Int), CachekitError> in
                var pointers: [UnsafePointer<CChar>?] = []
                var lengths: [Int] = []
                pointers.reserveCapacity(pieces.count)
                lengths.reserveCapacity(pieces.count)
                var total = 0
                for piece in pieces {
                    let buffer: UnsafeRawBufferPointer
                    switch piece {
                    case .scratch(let offset, let count): buffer = UnsafeRawBufferPointer(rebasing: scratchBytes[offset..<(offset &+ count)])
                    case .pointer(let given): buffer = given
                    case .large(let index): buffer = largePointers[index] ?? UnsafeRawBufferPointer(start: nil, count: 0)
                    }
                    total &+= buffer.count &+ 32
                    pointers.append((buffer.baseAddress ?? scratchBytes.baseAddress)?.assumingMemoryBound(to: CChar.self))
                    lengths.append(buffer.count)
                }
                // redisFormatCommandArgv returns the length as an int.
                guard total < Int(Int32.max) else {
                    return .failure(CachekitError(.valueTooLarge, "a Redis command over 2 GiB cannot be formatted"))
                }
                var target: UnsafeMutablePointer<CChar>?
                let length = redisFormatCommandArgv(&target, Int32(pieces.count), &pointers, lengths)
                guard length >= 0, let target else {
                    return .failure(CachekitError(.outOfMemory, "could not format a Redis command of \(total) bytes"))
                }
                return .success((target, Int(length)))
            }
        }
        let (storage, count) = try outcome.get()
        return FormattedCommand(storage: storage, count: count, name: name, carriesSecret: carriesSecret)
    }

    /// Opens each large argument's storage in turn (nested, since a pointer into an array or
    /// string is valid only inside its closure) and runs `body` with all of them open.
    private static func withLargeArguments<R>(
        _ arguments: [RedisArgument], _ pending: ArraySlice<Int>, _ open: inout [Int: UnsafeRawBufferPointer],
        _ body: ([Int: UnsafeRawBufferPointer]) -> R
    ) -> R {
        guard let index = pending.first else { return body(open) }
        let rest = pending.dropFirst()
        switch arguments[index] {
        case .bytes(let bytes):
            return bytes.withUnsafeBytes { buffer in
                open[index] = buffer
                return withLargeArguments(arguments, rest, &open, body)
            }
        case .text(var text):
            return text.withUTF8 { utf8 in
                open[index] = UnsafeRawBufferPointer(utf8)
                return withLargeArguments(arguments, rest, &open, body)
            }
        default:
            return withLargeArguments(arguments, rest, &open, body)
        }
    }
}
