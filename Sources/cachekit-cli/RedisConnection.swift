import CachekitCore
import CachekitRedis

/// The CLI's one Redis connection: the library's client (every URL form: TLS, unix sockets,
/// Sentinel), one command at a time, each under the command timeout. Failures become one-line
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

    private let connection: CachekitRedis.RedisConnection

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
            connection = try RedisClient(url: url, settings: settings).openDedicatedConnection()
        } catch {
            throw CLIError("cannot connect to Redis: \(error.message)")
        }
    }

    private let timeout: Int

    deinit { connection.close() }

    /// Runs one command; a Redis error reply throws.
    func command(_ arguments: [[UInt8]]) throws(CLIError) -> Reply {
        let reply: RedisValue
        do throws(CachekitError) {
            reply = try connection.call(arguments.map { .bytes($0) }, limits: Self.replyLimits,
                                        deadline: .after(milliseconds: timeout))
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

    /// PUBSUB NUMSUB's count for one channel.
    func subscriberCount(_ channel: [UInt8]) throws(CLIError) -> Int64 {
        let reply: RedisValue
        do throws(CachekitError) {
            reply = try connection.call(["PUBSUB", "NUMSUB", .bytes(channel)], limits: Self.replyLimits,
                                        deadline: .after(milliseconds: timeout))
        } catch {
            throw CLIError(error.message)
        }
        guard case .array(let items) = reply, items.count == 2, case .integer(let count) = items[1] else {
            throw CLIError("Redis PUBSUB NUMSUB gave an unexpected reply")
        }
        return count
    }
}
