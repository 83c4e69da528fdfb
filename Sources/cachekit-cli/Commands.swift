import ArgumentParser
import CachekitCore

/// The root command names the subcommands; main.swift parses, runs and maps exit codes.
struct CachekitCLI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cachekit-cli",
        abstract: "Read, write and inspect cachekit entries in a Redis; check its health and stats.",
        discussion: """
            KEY is the exact Redis key (with its t:{tenant}: prefix in auto and minimal mode). \
            Exit status: 0 success, 1 the key is not in Redis (get, inspect), 2 an error (one line \
            on stderr). No output names the key or the master key.
            """,
        subcommands: [Get.self, Put.self, Inspect.self, Health.self, Stats.self]
    )
}

/// What every command takes: the key, the entry format, encryption and the Redis URL.
struct EntryOptions: ParsableArguments {
    @Argument(help: "The exact Redis key.")
    var key: String

    @Option(name: .customLong("mode"), help: "Entry format.")
    var modeArgument = ModeArgument(.auto)
    var mode: EntryMode { modeArgument.mode }

    @Flag(help: ArgumentHelp("""
        Encrypt/decrypt: master key from CACHEKIT_MASTER_KEY (and CACHEKIT_PREVIOUS_MASTER_KEYS), \
        tenant from CACHEKIT_DEPLOYMENT_UUID or "default". inspect never decrypts and ignores it.
        """))
    var secure = false

    @Option(help: ArgumentHelp("""
        Redis URL: redis://[[user]:password@]host[:port][/db], rediss://... (TLS, with \
        ?ssl_ca_certs=, ssl_cert_reqs=, ssl_certfile=, ssl_keyfile=), unix:///path, \
        redis+sentinel://host:port[,host:port...]/service[/db]. Default CACHEKIT_REDIS_URL, then \
        REDIS_URL, then redis://localhost:6379.
        """, valueName: "url"))
    var url: String?

    func validate() throws {
        // Never echo the key itself: keys can carry customer identifiers.
        guard !key.isEmpty else { throw ValidationError("KEY is empty") }
    }
}

/// `--mode`, parsed by the core's own mode names. A wrapper because ArgumentParser shows an
/// enum's raw value (EntryMode's is its C number) as the default.
struct ModeArgument: ExpressibleByArgument {
    let mode: EntryMode
    init(_ mode: EntryMode) { self.mode = mode }

    init?(argument: String) {
        guard let mode = EntryMode(name: argument) else { return nil }
        self.mode = mode
    }

    static var allValueStrings: [String] { EntryMode.allCases.map(\.name) }
    static var allValueDescriptions: [String: String] {
        [
            EntryMode.auto.name: "CK v3 frame around the ByteStorage envelope (cachekit-py's default)",
            EntryMode.minimal.name: "CK v3 frame around the bare MessagePack (integrity off)",
            EntryMode.interop.name: "the bare MessagePack document, no frame",
        ]
    }
    var defaultValueDescription: String { mode.name }
}

/// A subcommand main.swift runs: returns the exit status (0 done, 1 miss) or throws an error.
protocol EntryCommand: ParsableCommand {
    func execute() throws(CLIError) -> Int32
}

struct Get: EntryCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print an entry's value as one line of JSON.",
        discussion: """
            bin values print as {"$bin": "<hex>"}, ext values as {"$ext": TYPE, "data": "<hex>"}; \
            exit status 1, printing nothing, when the key is not in Redis.
            """
    )

    @OptionGroup var entry: EntryOptions

    @Flag(help: "Print the inner MessagePack document as lowercase hex instead of JSON.")
    var raw = false

    func execute() throws(CLIError) -> Int32 {
        let security = try entry.security()
        let redis = try entry.connect()
        guard case .string(let value) = try redis.command([Array("GET".utf8), entry.keyBytes]) else { return 1 }
        let inner = try core { () throws(CachekitError) in
            try withBytes(value) { stored throws(CachekitError) in
                try Entry.decode(stored, mode: entry.mode, key: entry.key, security: security).array
            }
        }
        if raw {
            write(hexString(inner), to: 1)
        } else {
            let tree = try core { () throws(CachekitError) in try MessagePackValue.decode(inner) }
            write(JSONWriter.write(JSONBridge.json(tree)), to: 1)
        }
        return 0
    }
}

struct Put: EntryCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write an entry from a JSON value or a MessagePack document.",
        discussion: """
            {"$bin": "<hex>"} becomes bin. In interop mode the document is written canonically \
            (sorted keys), as cachekit-py writes it. A JSON value starting with '-' (a negative \
            number) goes after --.
            """
    )

    @OptionGroup var entry: EntryOptions

    @Argument(help: "The value as JSON; read from standard input when neither it nor --msgpack-hex is given.")
    var json: String?

    @Option(help: ArgumentHelp("The inner MessagePack document as hex, instead of JSON.", valueName: "hex"))
    var msgpackHex: String?

    // Unconditional so that a negative value reaches validate() instead of reading as an option.
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Write with SETEX when > 0, otherwise SET.", valueName: "seconds")
    )
    var ttl: Int?

    func validate() throws {
        if json != nil && msgpackHex != nil {
            throw ValidationError("give either a JSON value or --msgpack-hex, not both")
        }
        if let ttl, ttl < 0 { throw ValidationError("--ttl must be a whole number of seconds >= 0") }
    }

    func execute() throws(CLIError) -> Int32 {
        let security = try entry.security()
        let redis = try entry.connect()
        let inner = try document()
        let stored = try core { () throws(CachekitError) in
            try withBytes(inner) { raw throws(CachekitError) in
                try Entry.encode(inner: raw, mode: entry.mode, key: entry.key, security: security).array
            }
        }
        if let ttl, ttl > 0 {
            _ = try redis.command([Array("SETEX".utf8), entry.keyBytes, Array(String(ttl).utf8), stored])
        } else {
            _ = try redis.command([Array("SET".utf8), entry.keyBytes, stored])
        }
        return 0
    }

    /// The inner MessagePack document from --msgpack-hex, the JSON argument or standard input.
    private func document() throws(CLIError) -> [UInt8] {
        if let msgpackHex {
            guard let decoded = Hex.decode(msgpackHex) else { throw CLIError("--msgpack-hex is not valid hexadecimal") }
            return decoded
        }
        let text = json ?? String(decoding: readStandardInput(), as: UTF8.self)
        let parsed = try core { () throws(CachekitError) in
            try JSONParser.parse(text, depthLimit: MessagePackValue.defaultTreeDepthLimit)
        }
        let value = try core { () throws(CachekitError) in try JSONBridge.messagePack(parsed) }
        // Interop writers store canonical documents (sorted keys), as cachekit-py does.
        guard entry.mode == .interop else { return value.encoded }
        return try core { () throws(CachekitError) in try Canonical.encode(value, profile: .interopValue) }
    }
}

struct Inspect: EntryCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print how an entry is stored, as one JSON object; never decrypts.",
        discussion: """
            Mode, value size, the CK frame header, header and payload sizes, whether it is \
            encrypted, the envelope's sizes, the checksum status and the TTL.
            """
    )

    @OptionGroup var entry: EntryOptions

    func execute() throws(CLIError) -> Int32 {
        // inspect never decrypts, so it needs no master key.
        let redis = try entry.connect()
        guard case .string(let value) = try redis.command([Array("GET".utf8), entry.keyBytes]) else { return 1 }
        var ttl: Int64 = -2
        if case .integer(let seconds) = try redis.command([Array("TTL".utf8), entry.keyBytes]) { ttl = seconds }
        let info = try core { () throws(CachekitError) in
            try withBytes(value) { raw throws(CachekitError) in try Entry.inspect(raw, mode: entry.mode) }
        }
        write(JSONWriter.write(inspection(info, ttl: ttl)), to: 1)
        return 0
    }
}
