import ArgumentParser
import CachekitCore
import CachekitRedis
import Glibc

// cachekit-cli health and stats (docs/observability.md). health builds a cache on the URL and
// prints its health report; stats prints what Redis itself reports, since the counters of a live
// process live in that process (its host exposes cachekit_cache_metrics_text). -v sends the
// library's log events to stderr.

/// --url and -v, shared by health and stats.
struct EndpointOptions: ParsableArguments {
    @Option(help: ArgumentHelp("""
        Redis URL (every form get accepts). Default CACHEKIT_REDIS_URL, then REDIS_URL, then \
        redis://localhost:6379.
        """, valueName: "url"))
    var url: String?

    @Flag(name: [.short, .customLong("verbose")], help: "Print the library's log events (DEBUG and up, unsampled) on stderr.")
    var verbose = false

    var resolvedURL: String { url ?? environment("CACHEKIT_REDIS_URL") ?? environment("REDIS_URL") ?? "redis://localhost:6379" }

    /// Routes log events to stderr as one line each: level, event, fields.
    func routeLogs() {
        guard verbose else { return }
        LogHook.install({ event in
            let level = String(describing: event.level).uppercased()
            let fields = event.fields.map { "\($0.name)=\($0.value)" }.joined(separator: " ")
            write("cachekit-cli: \(level) \(event.name) \(fields)".replacingNewlines(), to: 2)
        }, minimumLevel: .debug)
    }
}

struct Health: EntryCommand {
    static let configuration = CommandConfiguration(
        abstract: "PING Redis through a cache and print the health report (JSON).",
        discussion: """
            The report is cachekit_cache_health_v2's: status, namespace and components (l1, l2 \
            with its PING, circuit breaker, pool and nodes, listener). Exit status 0 healthy, 1 \
            unhealthy (Redis did not answer), 2 an error.
            """)

    @OptionGroup var endpoint: EndpointOptions

    func execute() throws(CLIError) -> Int32 {
        endpoint.routeLogs()
        let config = CacheConfig()
        let cache = try core { () throws(CachekitError) -> Cache in
            let url = Array(endpoint.resolvedURL.utf8)
            try withBytes(url) { bytes throws(CachekitError) in try config.setSecret("redis_url", bytes) }
            try config.set("metrics_namespace", "cachekit-cli")
            try config.set("log_sampling_rate", "1")
            try config.set("circuit_breaker", "off")
            return try Cache.open(config: config)
        }
        let report = cache.healthReportJSON()
        write(report, to: 1)
        let parsed = try core { () throws(CachekitError) -> JSONValue in try JSONParser.parse(report) }
        return parsed["healthy"] == .bool(true) ? 0 : 1
    }
}

struct Stats: EntryCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print what Redis reports about the cache fleet (JSON).",
        discussion: """
            A live process's cache counters are in that process: its host exposes them \
            (cachekit_cache_metrics_text, the Python collector). This command shows what it can \
            reach: the server's hit and miss counters, memory, clients and keys, and how many \
            invalidation listeners (libcachekit and cachekit-py) are subscribed now.
            """)

    @OptionGroup var endpoint: EndpointOptions

    /// INFO fields reported, by section.
    static let infoFields: [(section: String, fields: [String])] = [
        ("server", ["redis_version", "uptime_in_seconds"]),
        ("clients", ["connected_clients", "blocked_clients"]),
        ("memory", ["used_memory", "maxmemory", "maxmemory_policy"]),
        ("stats", ["keyspace_hits", "keyspace_misses", "evicted_keys", "expired_keys", "total_commands_processed"]),
    ]

    func execute() throws(CLIError) -> Int32 {
        endpoint.routeLogs()
        let connection = try RedisConnection(url: endpoint.resolvedURL)
        var members: [(String, JSONValue)] = []
        for (section, fields) in Self.infoFields {
            guard case .string(let bytes) = try connection.command([Array("INFO".utf8), Array(section.utf8)]) else {
                throw CLIError("Redis INFO \(section) did not answer with text")
            }
            let info = Self.parseInfo(String(decoding: bytes, as: UTF8.self))
            for field in fields {
                guard let text = info[field] else { continue }
                members.append((field, Int64(text).map { .int($0) } ?? .string(text)))
            }
        }
        if case .integer(let keys) = try connection.command([Array("DBSIZE".utf8)]) { members.append(("db_keys", .int(keys))) }
        let listeners = try connection.subscriberCount(InvalidationEvent.channel)
        members.append(("invalidation_listeners", .int(listeners)))
        write(JSONWriter.write(.object([("source", .string("redis")), ("redis", .object(members))])), to: 1)
        return 0
    }

    /// INFO's "name:value" lines.
    static func parseInfo(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for line in text.split(whereSeparator: { $0 == "\r\n" || $0 == "\n" }) {
            guard !line.hasPrefix("#"), let colon = line.firstIndex(of: ":") else { continue }
            fields[String(line[..<colon])] = String(line[line.index(after: colon)...])
        }
        return fields
    }
}
