import CachekitCore
import Glibc

// cachekit-cli: get, put and inspect cachekit entries in a Redis. Exit 0 on success, 1 on a
// miss, 2 on an error (one line on stderr). Never prints a key or a master key.

struct CLIError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

let usage = """
    usage: cachekit-cli get KEY [--raw] [options]
           cachekit-cli put KEY [JSON | --msgpack-hex HEX] [--ttl SECONDS] [options]
           cachekit-cli inspect KEY [options]
    options: --mode auto|minimal|interop (default auto)
             --secure   encrypt/decrypt with CACHEKIT_MASTER_KEY, tenant CACHEKIT_DEPLOYMENT_UUID or "default"
             --url URL  default CACHEKIT_REDIS_URL, then REDIS_URL, then redis://localhost:6379
    KEY is the exact Redis key (with its t:{tenant}: prefix in auto and minimal mode).
    put reads the JSON value from standard input when neither JSON nor --msgpack-hex is given.
    """

struct Options {
    var command = ""
    var key: [UInt8] = []
    var json: String?
    var msgpackHex: String?
    var ttl: Int?
    var raw = false
    var mode = EntryMode.auto
    var secure = false
    var url: String?

    init(_ arguments: [String]) throws(CLIError) {
        var positional: [String] = []
        var index = 0
        func value(_ name: String) throws(CLIError) -> String {
            index += 1
            guard index < arguments.count else { throw CLIError("\(name) needs a value") }
            return arguments[index]
        }
        while index < arguments.count {
            let argument = arguments[index]
            switch argument {
            case "--raw": raw = true
            case "--secure": secure = true
            case "--mode":
                let name = try value(argument)
                guard let parsed = EntryMode(name: name) else {
                    throw CLIError("unknown --mode value (expected auto, minimal or interop)")
                }
                mode = parsed
            case "--url": url = try value(argument)
            case "--msgpack-hex": msgpackHex = try value(argument)
            case "--ttl":
                let text = try value(argument)
                guard let seconds = Int(text), seconds >= 0 else { throw CLIError("--ttl must be a whole number of seconds >= 0") }
                ttl = seconds
            case "-h", "--help": command = "help"; return
            case "--": positional.append(contentsOf: arguments[(index + 1)...]); index = arguments.count; continue
            default:
                if argument.hasPrefix("--") {
                    let name = argument.prefix(while: { $0 != "=" }).prefix(40)
                    throw CLIError("unknown option \(name)")
                }
                positional.append(argument)
            }
            index += 1
        }
        guard let first = positional.first else { throw CLIError("missing command (get, put or inspect)") }
        command = first
        // Never echo positional text: a misplaced argument may be a key.
        guard ["get", "put", "inspect"].contains(command) else { throw CLIError("unknown command (expected get, put or inspect)") }
        guard positional.count >= 2 else { throw CLIError("missing KEY") }
        key = Array(positional[1].utf8)
        guard !key.isEmpty else { throw CLIError("KEY is empty") }
        if command == "put" {
            guard positional.count <= 3 else { throw CLIError("put takes one JSON value") }
            json = positional.count == 3 ? positional[2] : nil
            if json != nil && msgpackHex != nil { throw CLIError("give either a JSON value or --msgpack-hex, not both") }
        } else {
            guard positional.count == 2 else { throw CLIError("\(command) takes only KEY") }
            if msgpackHex != nil || ttl != nil { throw CLIError("--msgpack-hex and --ttl apply to put only") }
        }
        if raw && command != "get" { throw CLIError("--raw applies to get only") }
    }
}

func environment(_ name: String) -> String? {
    guard let value = getenv(name) else { return nil }
    let text = String(cString: value)
    return text.isEmpty ? nil : text
}

func security(_ options: Options) throws(CLIError) -> EntrySecurity? {
    guard options.secure else { return nil }
    do {
        let keyring = try Keyring.fromEnvironment()
        return EntrySecurity(keyring: keyring, tenant: environment("CACHEKIT_DEPLOYMENT_UUID") ?? "default")
    } catch {
        throw CLIError(error.message)
    }
}

func readStandardInput() -> [UInt8] {
    var data: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = chunk.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
        if count <= 0 { break }
        data.append(contentsOf: chunk[0..<count])
    }
    return data
}

func write(_ text: String, to descriptor: Int32) {
    var bytes = Array((text + "\n").utf8)[...]
    while !bytes.isEmpty {
        let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
        if written <= 0 { return }
        bytes = bytes.dropFirst(written)
    }
}

func core<T>(_ body: () throws(CachekitError) -> T) throws(CLIError) -> T {
    do { return try body() } catch { throw CLIError(error.message) }
}

/// Runs the command; returns the exit status.
func run(_ options: Options) throws(CLIError) -> Int32 {
    let url = options.url ?? environment("CACHEKIT_REDIS_URL") ?? environment("REDIS_URL") ?? "redis://localhost:6379"
    let keyText = String(decoding: options.key, as: UTF8.self)
    guard validUTF8Key(options.key) else { throw CLIError("KEY is not valid UTF-8") }
    // inspect never decrypts, so it needs no master key.
    let security = options.command == "inspect" ? nil : try security(options)
    let redis = try RedisConnection(url: url)

    switch options.command {
    case "get":
        guard case .string(let value) = try redis.command([Array("GET".utf8), options.key]) else { return 1 }
        let inner = try core { () throws(CachekitError) in
            try withBytes(value) { raw throws(CachekitError) in
                try Entry.decode(raw, mode: options.mode, key: keyText, security: security).array
            }
        }
        if options.raw {
            write(hexString(inner), to: 1)
        } else {
            let tree = try core { () throws(CachekitError) in try MessagePackValue.decode(inner) }
            write(JSONWriter.write(JSONBridge.json(tree)), to: 1)
        }
        return 0

    case "put":
        let inner: [UInt8]
        if let hex = options.msgpackHex {
            guard let decoded = Hex.decode(hex) else { throw CLIError("--msgpack-hex is not valid hexadecimal") }
            inner = decoded
        } else {
            let text = options.json ?? String(decoding: readStandardInput(), as: UTF8.self)
            let json = try core { () throws(CachekitError) in try JSONParser.parse(text, depthLimit: MessagePackValue.defaultTreeDepthLimit) }
            let value = try core { () throws(CachekitError) in try JSONBridge.messagePack(json) }
            // Interop writers store canonical documents (sorted keys), as cachekit-py does.
            inner = options.mode == .interop
                ? try core { () throws(CachekitError) in try Canonical.encode(value, profile: .interopValue) }
                : value.encoded
        }
        let stored = try core { () throws(CachekitError) in
            try withBytes(inner) { raw throws(CachekitError) in
                try Entry.encode(inner: raw, mode: options.mode, key: keyText, security: security).array
            }
        }
        if let ttl = options.ttl, ttl > 0 {
            _ = try redis.command([Array("SETEX".utf8), options.key, Array(String(ttl).utf8), stored])
        } else {
            _ = try redis.command([Array("SET".utf8), options.key, stored])
        }
        return 0

    case "inspect":
        guard case .string(let value) = try redis.command([Array("GET".utf8), options.key]) else { return 1 }
        var ttl: Int64 = -2
        if case .integer(let seconds) = try redis.command([Array("TTL".utf8), options.key]) { ttl = seconds }
        let info = try core { () throws(CachekitError) in
            try withBytes(value) { raw throws(CachekitError) in try Entry.inspect(raw, mode: options.mode) }
        }
        write(JSONWriter.write(inspection(info, ttl: ttl)), to: 1)
        return 0

    default:
        throw CLIError("unknown command")
    }
}

func validUTF8Key(_ bytes: [UInt8]) -> Bool {
    bytes.withUnsafeBytes { validUTF8($0) }
}

/// The inspect report: frame header, sizes, envelope and checksum status, TTL.
func inspection(_ info: EntryInfo, ttl: Int64) -> JSONValue {
    var members: [(String, JSONValue)] = [("mode", .string(info.mode.name)), ("value_bytes", .uint(UInt64(info.totalLength)))]
    if let header = info.headerJSON {
        members.append(("frame", .string("CK v3")))
        members.append(("header_bytes", .uint(UInt64(header.utf8.count))))
        let parsed = (try? JSONParser.parse(header, depthLimit: 16)) ?? .string(header)
        members.append(("header", parsed))
    }
    members.append(("payload_bytes", .uint(UInt64(info.payloadLength))))
    // An interop value carries no metadata: whether it is encrypted is the reader's configuration.
    members.append(("encrypted", info.mode == .interop ? .null : .bool(info.encrypted)))
    if info.encrypted {
        members.append(("ciphertext_bytes", .uint(UInt64(max(0, info.payloadLength - 28)))))
    }
    if let compressed = info.envelopeCompressedLength { members.append(("envelope_compressed_bytes", .uint(UInt64(compressed)))) }
    if let original = info.envelopeOriginalSize { members.append(("envelope_original_size", .uint(original))) }
    let checksum: String
    if let status = info.envelopeStatus {
        checksum = status == .ok ? "ok" : "\(status.description) (\(status.rawValue))"
    } else if info.encrypted {
        checksum = "not checked (encrypted)"
    } else {
        checksum = info.mode == .auto ? "not checked (no envelope)" : "none (no envelope in this mode)"
    }
    members.append(("checksum", .string(checksum)))
    members.append(("ttl_seconds", ttl >= 0 ? .int(ttl) : .null))
    return .object(members)
}

let arguments = Array(CommandLine.arguments.dropFirst())
do {
    let options = try Options(arguments)
    if options.command == "help" {
        write(usage, to: 1)
        exit(0)
    }
    exit(try run(options))
} catch {
    write("cachekit-cli: error: " + error.message.replacingNewlines(), to: 2)
    exit(2)
}

extension String {
    func replacingNewlines() -> String {
        String(String.UnicodeScalarView(unicodeScalars.map { $0 == "\n" || $0 == "\r" ? " " : $0 }))
    }
}
