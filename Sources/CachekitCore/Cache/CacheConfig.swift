import Glibc

/// Everything a cache is built from. Options come from `set(_:_:)` (the names below) and/or the
/// environment (`loadEnvironment`, cachekit-py's variable names). Secrets are kept only here and
/// wiped on deinit; `description` never shows them. Not thread-safe (configure, then create).
/// Exported to C as `cachekit_config`.
public final class CacheConfig: @unchecked Sendable {
    /// Where Redis is (`redis_url`); nil: L1 alone.
    public var redisURL: RedisURL?
    public var mode: CacheMode = .plain
    /// Seconds; nil means the mode's default.
    public var defaultTTLSeconds: Int?
    public var maxValueSize = 104_857_600
    public var l1MaxBytes = 100 * 1_048_576
    public var l1MaxEntries = 1_000_000
    /// The longest an entry stays in L1, seconds (0: its TTL alone). cachekit-py's L1 uses 300 s
    /// for entries without a TTL and never longer than the TTL.
    public var l1TTLSeconds = 300
    public var connectTimeoutMilliseconds = 5000
    public var commandTimeoutMilliseconds = 5000
    public var poolSize = 50
    /// How long a call waits for a pooled connection to come free; nil: the command timeout,
    /// as redis-py's BlockingConnectionPool waits up to socket_timeout.
    public var poolTimeoutMilliseconds: Int?
    public var effectivePoolTimeoutMilliseconds: Int { poolTimeoutMilliseconds ?? commandTimeoutMilliseconds }
    /// TLS settings given as options (`ssl_*`); they override the URL's query parameters.
    public private(set) var tlsOptions: [(name: String, value: String)] = []
    /// The circuit breaker, with cachekit-py's CircuitBreakerConfig names and defaults.
    public var circuitBreakerEnabled = true
    public var failureThreshold = 5
    public var successThreshold = 3
    public var recoveryTimeoutMilliseconds = 30_000
    public var halfOpenRequests = 3
    public var failureWindowMilliseconds = 60_000
    /// Backpressure, with cachekit-py's BackpressureConfig names and defaults.
    public var backpressureEnabled = true
    public var maxConcurrentRequests = 100
    public var queueSize = 1000
    public var backpressureTimeoutMilliseconds = 100
    /// Share one Redis client (pool, breaker, backpressure) with every cache of this process
    /// whose Redis settings are identical, as cachekit-py shares one per process; false: a
    /// client of this cache's own.
    public var redisClientShared = true
    /// Bounds of one namespace sweep (SCAN + UNLINK) or registry drain against a server that
    /// never reports the end.
    public var sweepMaxIterations = 100_000
    public var sweepTimeoutMilliseconds = 30_000
    /// Prefixed to every key in Redis and L1; nil means cachekit-py's: `t:default:` (its
    /// environment-configured backend scopes keys to the "default" tenant whatever the
    /// deployment UUID, which only selects the encryption key), none in interop mode (cachekit-py
    /// refuses a prefixing backend there: other SDKs read bare interop keys).
    public var keyPrefix: String?
    /// Hex of the master key (secret, wiped when replaced or released).
    private var masterKeyHex: SecretBytes?
    /// Hex of up to 3 decrypt-only previous master keys (secret, wiped likewise).
    private var previousMasterKeysHex: [SecretBytes] = []
    /// Canonical (lowercase 8-4-4-4-12), from any form cachekit-py accepts (DeploymentUUID).
    public var deploymentUUID: String?
    /// Interop mode takes only the canonical spelling, as cachekit-py: other SDKs use it verbatim.
    public var deploymentUUIDWasCanonical = true
    /// Run the invalidation listener (cachekit-py's CACHEKIT_INVALIDATION_LISTENER_ENABLED):
    /// one thread and one Redis connection that drop L1 copies other processes invalidate.
    public var invalidationListener = false
    /// Server-assisted L1 invalidation (CACHEKIT_L1_TRACKING): Redis reports every write under
    /// the key prefix (CLIENT TRACKING, BCAST) to the process's subscriber, which drops the L1
    /// copy. Takes effect only with both tiers.
    public var l1Tracking = true
    /// How long a get_or_compute waiter waits for the caller computing the same key before it
    /// computes itself: cachekit-py's lock wait (blocking_timeout 5 s in its @cache wrapper).
    public var singleFlightWaitMilliseconds = 5000
    /// The fill lock, sliding TTL, refresh-ahead, stale-if-error and fail-closed (Coherence/).
    public var coherence = CoherenceOptions()
    /// The `namespace` label of the cache's metrics and log events (cachekit-py labels by the
    /// decorator's namespace, "default" without one).
    public var metricsNamespace = "default"
    /// The share of DEBUG/INFO/WARNING log events delivered (cachekit-py's log_sampling_rate,
    /// CACHEKIT_LOG_SAMPLING_RATE, default 0.1); ERROR events always are.
    public var logSamplingRate = 0.1

    public static let optionNames = [
        "redis_url", "mode", "default_ttl", "max_value_size", "l1_max_size_mb", "l1_max_bytes",
        "l1_max_entries", "l1_ttl", "connect_timeout_ms", "command_timeout_ms", "pool_size", "pool_timeout_ms",
        "ssl_cert_reqs", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_check_hostname",
        "circuit_breaker", "failure_threshold", "success_threshold", "recovery_timeout_ms", "retry_interval_ms",
        "half_open_requests", "failure_window_ms", "backpressure", "max_concurrent_requests", "queue_size",
        "backpressure_timeout_ms", "redis_client_shared", "sweep_max_iterations", "sweep_timeout_ms",
        "key_prefix", "master_key", "previous_master_keys", "deployment_uuid", "invalidation_listener",
        "single_flight_wait_ms", "l1_tracking", "metrics_namespace", "log_sampling_rate",
    ] + CoherenceOptions.optionNames

    public init() {}

    public var tenant: String { deploymentUUID ?? "default" }

    /// Whether the mode stores ciphertext (secure, or interop with a master key).
    public var encryptsEntries: Bool { mode == .secure || (mode == .interop && hasMasterKey) }
    public var hasMasterKey: Bool { masterKeyHex != nil }

    public var effectiveKeyPrefix: String {
        keyPrefix ?? (mode == .interop ? "" : "t:default:")
    }

    public var effectiveDefaultTTLSeconds: Int { defaultTTLSeconds ?? mode.defaultTTLSeconds }

    /// The options whose values are secrets or may carry one (a URL's password): `setSecret`
    /// reads them where they lie and copies the secret only into wiped memory.
    public static let secretOptionNames: Set<String> = ["redis_url", "master_key", "previous_master_keys"]

    /// Sets one option from its text form. Messages name the option, never a secret value.
    public func set(_ name: String, _ value: String) throws(CachekitError) {
        if Self.secretOptionNames.contains(name) {
            try withUTF8Bytes(value) { bytes throws(CachekitError) in try setSecret(name, bytes) }
            return
        }
        switch name {
        case "mode":
            guard let parsed = CacheMode(rawValue: value.lowercased()) else {
                throw CachekitError(.invalidConfig, "mode must be plain, secure, minimal or interop")
            }
            mode = parsed
        case "default_ttl": defaultTTLSeconds = try Self.integer(value, name, min: 0)
        case "max_value_size": maxValueSize = try Self.integer(value, name, min: 1)
        case "l1_max_size_mb":
            let mb = try Self.integer(value, name, min: 0, max: 1 << 20)
            l1MaxBytes = mb * 1_048_576
        case "l1_max_bytes": l1MaxBytes = try Self.integer(value, name, min: 0)
        case "l1_max_entries": l1MaxEntries = try Self.integer(value, name, min: 0, max: Int(Int32.max))
        case "l1_ttl": l1TTLSeconds = try Self.integer(value, name, min: 0, max: 1 << 40)
        case "connect_timeout_ms": connectTimeoutMilliseconds = try Self.integer(value, name, min: 1, max: 3_600_000)
        case "command_timeout_ms": commandTimeoutMilliseconds = try Self.integer(value, name, min: 1, max: 3_600_000)
        case "pool_size": poolSize = try Self.integer(value, name, min: 1, max: 10_000)
        case "pool_timeout_ms": poolTimeoutMilliseconds = try Self.integer(value, name, min: 0, max: 3_600_000)
        case "ssl_cert_reqs", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_check_hostname":
            var probe = TLSSettings()
            try probe.apply(name: name, value: value)  // refuses a malformed value now, not at cache creation
            tlsOptions.removeAll { $0.name == name }
            tlsOptions.append((name, value))
        case "circuit_breaker": circuitBreakerEnabled = try Self.flag(value, name)
        case "failure_threshold": failureThreshold = try Self.integer(value, name, min: 1, max: 10_000)
        case "success_threshold": successThreshold = try Self.integer(value, name, min: 1, max: 10_000)
        // retry_interval_ms: this library's name before the breaker took cachekit-py's shape.
        case "recovery_timeout_ms", "retry_interval_ms":
            recoveryTimeoutMilliseconds = try Self.integer(value, name, min: 1, max: 3_600_000)
        case "half_open_requests": halfOpenRequests = try Self.integer(value, name, min: 1, max: 10_000)
        case "failure_window_ms": failureWindowMilliseconds = try Self.integer(value, name, min: 1, max: 86_400_000)
        case "backpressure": backpressureEnabled = try Self.flag(value, name)
        case "max_concurrent_requests": maxConcurrentRequests = try Self.integer(value, name, min: 1, max: 1_000_000)
        case "queue_size": queueSize = try Self.integer(value, name, min: 0, max: 1_000_000)
        case "backpressure_timeout_ms": backpressureTimeoutMilliseconds = try Self.integer(value, name, min: 0, max: 3_600_000)
        case "redis_client_shared": redisClientShared = try Self.flag(value, name)
        case "sweep_max_iterations": sweepMaxIterations = try Self.integer(value, name, min: 1, max: 1 << 40)
        case "sweep_timeout_ms": sweepTimeoutMilliseconds = try Self.integer(value, name, min: 1, max: 86_400_000)
        case "single_flight_wait_ms": singleFlightWaitMilliseconds = try Self.integer(value, name, min: 1, max: 3_600_000)
        case "key_prefix":
            guard value.utf8.count <= 1024 else { throw CachekitError(.invalidConfig, "key_prefix must be at most 1024 bytes") }
            keyPrefix = value
        case "deployment_uuid":
            if value.isEmpty { deploymentUUID = nil; deploymentUUIDWasCanonical = true; return }
            guard let canonical = DeploymentUUID.canonical(value) else {
                throw CachekitError(.invalidConfig, "deployment_uuid must be a valid UUID")  // never the value: it may be a key
            }
            deploymentUUID = canonical
            deploymentUUIDWasCanonical = canonical == value
        case "invalidation_listener": invalidationListener = try Self.flag(value, name)
        case "l1_tracking": l1Tracking = try Self.flag(value, name)
        case "metrics_namespace":
            guard !value.isEmpty, value.utf8.count <= Limits.maxNamespaceLength else {
                throw CachekitError(.invalidConfig, "metrics_namespace must be 1..\(Limits.maxNamespaceLength) bytes")
            }
            metricsNamespace = value
        case "log_sampling_rate":
            guard let rate = Double(value), rate >= 0, rate <= 1 else {
                throw CachekitError(.invalidConfig, "log_sampling_rate must be a number from 0.0 to 1.0")
            }
            logSamplingRate = rate
        default:
            if try coherence.set(name, value) { return }
            throw CachekitError(.unknownOption, "unknown cache option '\(name.prefix(64))'")
        }
    }

    /// Sets one of `secretOptionNames` from UTF-8 bytes the caller keeps (a C argument, the
    /// environment). The only copies made are wiped: the master keys' hex goes into
    /// `SecretBytes`, and the URL is parsed in place (`RedisURL.parse(bytes:)`).
    public func setSecret(_ name: String, _ value: UnsafeRawBufferPointer) throws(CachekitError) {
        switch name {
        case "redis_url":
            redisURL = value.isEmpty ? nil : try RedisURL.parse(bytes: value)
        case "master_key":
            try Self.validateMasterKey(value, name: name)
            for previous in previousMasterKeysHex where Self.sameKey(previous.bytes, value) {
                throw CachekitError(.invalidConfig, "master_key must not appear in previous_master_keys")
            }
            // Replaces only the current key (the old one is wiped on release): previous keys stay.
            masterKeyHex = try SecretBytes(copying: value)
        case "previous_master_keys":
            var keys = Self.commaSeparatedKeys(value)
            defer { for i in keys.indices { SecretBytes.wipe(&keys[i]) } }
            guard keys.count <= 3 else {
                throw CachekitError(.invalidConfig, "previous_master_keys holds \(keys.count) keys; at most 3 decrypt-only keys are allowed")
            }
            for key in keys {
                try Self.validateMasterKey(key, name: name)
                if let master = masterKeyHex, Self.sameKey(master.bytes, key) {
                    throw CachekitError(.invalidConfig, "master_key must not appear in previous_master_keys")
                }
            }
            var secrets: [SecretBytes] = []
            for key in keys { secrets.append(try SecretBytes(copying: key)) }
            previousMasterKeysHex = secrets
        default:
            throw CachekitError(.unknownOption, "'\(name.prefix(64))' is not a secret cache option")
        }
    }

    /// The keys of a comma-separated list, spaces removed, empty ones dropped. Each array is
    /// sized once (never grown, so no unwiped copy is left behind); the caller wipes them.
    private static func commaSeparatedKeys(_ value: UnsafeRawBufferPointer) -> [[UInt8]] {
        var keys: [[UInt8]] = []
        var current: [UInt8] = []
        current.reserveCapacity(value.count)
        for character in value {
            if character == UInt8(ascii: ",") {
                if !current.isEmpty { keys.append(current) }
                current = []
                current.reserveCapacity(value.count)
            } else if character != 0x20 {
                current.append(character)
            }
        }
        if !current.isEmpty { keys.append(current) } else { SecretBytes.wipe(&current) }
        return keys
    }

    /// Reads cachekit-py's environment variables (unset ones leave the option as it is); the
    /// secret ones (`secretOptionNames`) are read in place, never copied into a string.
    public func loadEnvironment() throws(CachekitError) {
        try loadEnvironment(text: { getenv($0).map { String(cString: $0) } },
                            bytes: { getenv($0).map { UnsafeRawBufferPointer(start: $0, count: strlen($0)) } })
    }

    /// Reads the variables through `lookup` (tests), secrets included.
    public func loadEnvironment(_ lookup: (String) -> String?) throws(CachekitError) {
        try loadEnvironment(text: lookup, bytes: { _ in nil })
    }

    /// `bytes` answers for the secret options when it can; `text` for the rest.
    private func loadEnvironment(text lookup: (String) -> String?,
                                 bytes lookupBytes: (String) -> UnsafeRawBufferPointer?) throws(CachekitError) {
        func apply(_ variable: String, _ option: String) throws(CachekitError) -> Bool {
            if Self.secretOptionNames.contains(option), let value = lookupBytes(variable) {
                try setSecret(option, value)
                return true
            }
            guard let value = lookup(variable) else { return false }
            try set(option, value)
            return true
        }
        let table: [(String, String)] = [
            ("CACHEKIT_DEFAULT_TTL", "default_ttl"),
            ("CACHEKIT_MAX_VALUE_SIZE", "max_value_size"),
            ("CACHEKIT_L1_MAX_SIZE_MB", "l1_max_size_mb"),
            ("CACHEKIT_L1_MAX_ENTRIES", "l1_max_entries"),
            ("CACHEKIT_CONNECTION_POOL_SIZE", "pool_size"),
            ("CACHEKIT_MODE", "mode"),
            ("CACHEKIT_DEPLOYMENT_UUID", "deployment_uuid"),
            ("CACHEKIT_PREVIOUS_MASTER_KEYS", "previous_master_keys"),
            ("CACHEKIT_MASTER_KEY", "master_key"),
            ("CACHEKIT_INVALIDATION_LISTENER_ENABLED", "invalidation_listener"),
            ("CACHEKIT_ENCRYPTION_FAIL_CLOSED", "encryption_fail_closed"),
            ("CACHEKIT_L1_TRACKING", "l1_tracking"),
            ("CACHEKIT_LOG_SAMPLING_RATE", "log_sampling_rate"),
        ]
        do {
            if try !apply("CACHEKIT_REDIS_URL", "redis_url") { _ = try apply("REDIS_URL", "redis_url") }
        } catch { throw Self.fromEnvironment(error, "CACHEKIT_REDIS_URL or REDIS_URL") }
        for (variable, option) in table {
            do { _ = try apply(variable, option) } catch { throw Self.fromEnvironment(error, variable) }
        }
        // cachekit-py's timeouts are float seconds.
        for (variable, option) in [("CACHEKIT_SOCKET_TIMEOUT", "command_timeout_ms"),
                                   ("CACHEKIT_SOCKET_CONNECT_TIMEOUT", "connect_timeout_ms")] {
            guard let text = lookup(variable) else { continue }
            guard let seconds = Double(text), seconds > 0, seconds <= 3600 else {
                throw CachekitError(.invalidConfig, "\(variable) must be a positive number of seconds")
            }
            try set(option, String(max(Int((seconds * 1000).rounded()), 1)))
        }
    }

    /// Hands the hex of the master key and of the previous keys to `body` (for building a
    /// keyring) without copying them elsewhere; nil when no master key is set.
    public func withMasterKeys<R>(_ body: (SecretBytes?, [SecretBytes]) throws(CachekitError) -> R) throws(CachekitError) -> R {
        try body(masterKeyHex, previousMasterKeysHex)
    }

    /// The Redis URL with the `ssl_*` options applied; throws when they are given without a
    /// `rediss://` URL (TLS is never switched on or off behind the URL's back).
    /// Whether redis_url names a Redis Cluster.
    public var usesCluster: Bool {
        if case .cluster = redisURL?.target { return true }
        return false
    }

    public func effectiveRedisURL() throws(CachekitError) -> RedisURL? {
        guard var url = redisURL else { return nil }
        guard !tlsOptions.isEmpty else { return url }
        guard var tls = url.tls else {
            throw CachekitError(.invalidConfig, "ssl_* options need a rediss:// (or rediss+sentinel://) redis_url")
        }
        for (name, value) in tlsOptions { try tls.apply(name: name, value: value) }
        url.tls = tls
        return url
    }

    /// Options and where Redis is, never a secret.
    public var description: String {
        "mode \(mode.rawValue), redis \(redisURL?.redactedDescription ?? "none"), default ttl \(effectiveDefaultTTLSeconds) s, " +
            "L1 \(l1MaxBytes) bytes / \(l1MaxEntries) entries, master key \(hasMasterKey ? "set" : "unset")" +
            (invalidationListener ? ", invalidation listener on" : "") + (l1Tracking ? "" : ", l1 tracking off")
    }

    // MARK: Validation

    private static func fromEnvironment(_ error: CachekitError, _ variable: String) -> CachekitError {
        CachekitError(error.status, "\(variable): \(error.message)")
    }

    /// pydantic's boolean words, as cachekit-py reads its flags (case-insensitive).
    static func boolean(_ text: String) -> Bool? {
        switch text.trimmingSpaces.lowercased() {
        case "1", "true", "t", "yes", "y", "on": return true
        case "0", "false", "f", "no", "n", "off": return false
        default: return nil
        }
    }

    private static func flag(_ text: String, _ name: String) throws(CachekitError) -> Bool {
        guard let value = boolean(text) else {
            throw CachekitError(.invalidConfig, "\(name) must be 0 or 1 (or true/false, yes/no, on/off)")
        }
        return value
    }

    private static func integer(_ text: String, _ name: String, min: Int, max: Int = Int.max) throws(CachekitError) -> Int {
        guard let value = Int(text.trimmingSpaces), value >= min, value <= max else {
            throw CachekitError(.invalidConfig, "\(name) must be an integer in \(min)...\(max)")
        }
        return value
    }

    private static func validateMasterKey(_ hex: some Collection<UInt8>, name: String) throws(CachekitError) {
        guard hex.count % 2 == 0, hex.allSatisfy(isHexDigit) else {
            throw CachekitError(.invalidConfig, "\(name) must be hex-encoded")
        }
        guard hex.count >= 64 else {
            throw CachekitError(.invalidConfig, "\(name) must decode to at least 32 bytes")
        }
    }

    private static func isHexDigit(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46)
    }

    private static func sameKey(_ a: UnsafeRawBufferPointer, _ b: some Collection<UInt8>) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { $0 | 0x20 == $1 | 0x20 }
    }
}

extension String {
    var trimmingSpaces: String {
        String(self.drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}
