import CachekitCore
import CachekitRedis

/// The CLI's one Redis connection: the library's client (every URL form: TLS, unix sockets,
/// Sentinel; on Cluster, the node of the command's key, redirects followed), one command at a
/// time, each under the command timeout. Failures become one-line
/// CLIErrors that never carry a credential.
final class RedisConnection {
    enum Reply {
        case string([UInt8])
        case integer(Int64)
        case status(String)
        case nil_
        case other
    }

    /// The CLI waits this long to connect and for each reply.
    static let timeoutMilliseconds = 5_000
    /// A value the CLI reads may be as large as the library allows (cachekit-core's limit).
    static let replyLimits = ReplyLimits.value(maxValueSize: 512 * 1_048_576)

    private let connection: CachekitRedis.RedisConnection?
    private let cluster: ClusterClient?

    init(url text: String) throws(CLIError) {
        do throws(CachekitError) {
            let url = try RedisURL.parse(text)
            var settings = RedisClient.Settings()
            settings.connectTimeoutMilliseconds = url.socketConnectTimeoutMilliseconds ?? Self.timeoutMilliseconds
            settings.commandTimeoutMilliseconds = url.socketTimeoutMilliseconds ?? Self.timeoutMilliseconds
            settings.poolSize = 1
            settings.breaker = nil
            settings.backpressure = nil
            timeout = settings.commandTimeoutMilliseconds
            if case .cluster = url.target {
                cluster = try ClusterClient(url: url, settings: settings)
                connection = nil
            } else {
                cluster = nil
                connection = try RedisClient(url: url, settings: settings).openDedicatedConnection()
            }
        } catch {
            throw CLIError("cannot connect to Redis: \(error.message)")
        }
    }

    private let timeout: Int

    deinit {
        connection?.close()
        cluster?.close()
    }

    /// Runs one command; a Redis error reply throws.
    func command(_ arguments: [[UInt8]]) throws(CLIError) -> Reply {
        let reply: RedisValue
        do throws(CachekitError) {
            let command: [RedisArgument] = arguments.map { .bytes($0) }
            if let cluster {
                // Every CLI command names its key first.
                reply = try cluster.run(slot: ClusterSlot.of(arguments.dropFirst().first ?? [])) { connection, deadline throws(CachekitError) in
                    try connection.call(command, limits: Self.replyLimits, deadline: deadline)
                }
            } else if let connection {
                reply = try connection.call(command, limits: Self.replyLimits, deadline: .after(milliseconds: timeout))
            } else {
                throw CachekitError(.internal, "no Redis connection")
            }
        } catch {
            throw CLIError(error.message)
        }
        switch reply {
        case .bulk(let bytes): return .string(bytes)
        case .integer(let value): return .integer(value)
        case .simple(let text): return .status(text)
        case .null: return .nil_
        case .error(let text): throw CLIError("Redis replied with an error: \(text.prefix(200))")
        case .array: return .other
        }
    }

    /// PUBSUB NUMSUB's count for one channel (on Cluster, summed over the primaries: each
    /// counts the subscribers connected to it).
    func subscriberCount(_ channel: [UInt8]) throws(CLIError) -> Int64 {
        let command: [RedisArgument] = ["PUBSUB", "NUMSUB", .bytes(channel)]
        var replies: [RedisValue] = []
        do throws(CachekitError) {
            if let cluster {
                for node in try cluster.primaries() {
                    replies.append(try cluster.run(node: node) { connection, deadline throws(CachekitError) in
                        try connection.call(command, limits: Self.replyLimits, deadline: deadline)
                    })
                }
            } else if let connection {
                replies.append(try connection.call(command, limits: Self.replyLimits, deadline: .after(milliseconds: timeout)))
            }
        } catch {
            throw CLIError(error.message)
        }
        var total: Int64 = 0
        for reply in replies {
            guard case .array(let items) = reply, items.count == 2, case .integer(let count) = items[1] else {
                throw CLIError("Redis PUBSUB NUMSUB gave an unexpected reply")
            }
            total &+= count
        }
        return total
    }
}
