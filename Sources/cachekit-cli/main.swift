import ArgumentParser
import CachekitCore
import Glibc

// cachekit-cli: get, put and inspect cachekit entries in a Redis. Exit 0 on success, 1 on a
// miss, 2 on an error (one line on stderr). Never prints a key or a master key.

struct CLIError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

func environment(_ name: String) -> String? {
    guard let value = getenv(name) else { return nil }
    let text = String(cString: value)
    return text.isEmpty ? nil : text
}

extension EntryOptions {
    var keyBytes: [UInt8] { Array(key.utf8) }

    /// The keyring and tenant for --secure, from the environment; nil without --secure.
    func security() throws(CLIError) -> EntrySecurity? {
        guard secure else { return nil }
        do {
            let keyring = try Keyring.fromEnvironment()
            return EntrySecurity(keyring: keyring, tenant: environment("CACHEKIT_DEPLOYMENT_UUID") ?? "default")
        } catch {
            throw CLIError(error.message)
        }
    }

    func connect() throws(CLIError) -> RedisConnection {
        let resolved = url ?? environment("CACHEKIT_REDIS_URL") ?? environment("REDIS_URL")
        return try RedisConnection(url: resolved ?? "redis://localhost:6379")
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

/// Parses with ArgumentParser, runs the command and returns the exit status: usage errors are 2
/// like every other error (ArgumentParser's own default is 64), help goes to stdout with 0.
func runCommandLine(_ arguments: [String]) -> Int32 {
    let command: any EntryCommand
    do {
        try checkCommand(arguments)
        var parsed = try CachekitCLI.parseAsRoot(arguments)
        guard let entryCommand = parsed as? any EntryCommand else {
            guard parsed is CachekitCLI else {
                // ArgumentParser's own help command: run() throws the request, handled below.
                try parsed.run()
                return 0
            }
            return fail("missing command (get, put, inspect, health or stats)")
        }
        command = entryCommand
    } catch let error as CLIError {
        return fail(error.message)
    } catch {
        if CachekitCLI.exitCode(for: error) == .success { CachekitCLI.exit(withError: error) }
        let command = arguments.first.flatMap { knownCommands.contains($0) ? " " + $0 : nil } ?? ""
        let message = hidingArgumentText(CachekitCLI.message(for: error), arguments)
        return fail(message + " (see cachekit-cli\(command) --help)")
    }
    do {
        return try command.execute()
    } catch {
        return fail(error.message)
    }
}

let knownCommands: Set = ["get", "put", "inspect", "health", "stats"]

/// Errors ArgumentParser would report less clearly, or only with the argument's text.
func checkCommand(_ arguments: [String]) throws(CLIError) {
    // CommandLine.arguments repairs invalid UTF-8 with U+FFFD, which would silently name another key.
    for index in 1..<max(1, Int(CommandLine.argc)) {
        guard let argument = CommandLine.unsafeArgv[index] else { continue }
        guard validUTF8(UnsafeRawBufferPointer(start: argument, count: strlen(argument))) else {
            throw CLIError("an argument is not valid UTF-8")
        }
    }
    guard let first = arguments.first else { throw CLIError("missing command (get, put, inspect, health or stats)") }
    if !first.hasPrefix("-") && first != "help" && !knownCommands.contains(first) {
        throw CLIError("unknown command (expected get, put, inspect, health or stats)")
    }
}

/// ArgumentParser quotes the text it could not place, and a misplaced argument may be a key: every
/// quoted argument or option value is hidden; option names stay.
func hidingArgumentText(_ message: String, _ arguments: [String]) -> String {
    var text = message
    for argument in arguments {
        var value = argument[...]
        if argument.hasPrefix("-") {
            guard let equals = argument.firstIndex(of: "=") else { continue }
            value = argument[argument.index(after: equals)...]
        }
        if !value.isEmpty { text = text.replacing("'\(value)'", with: "'...'") }
    }
    return text
}

func fail(_ message: String) -> Int32 {
    write("cachekit-cli: error: " + message.replacingNewlines(), to: 2)
    return 2
}

exit(runCommandLine(Array(CommandLine.arguments.dropFirst())))

extension String {
    func replacingNewlines() -> String {
        String(String.UnicodeScalarView(unicodeScalars.map { $0 == "\n" || $0 == "\r" ? " " : $0 }))
    }
}
