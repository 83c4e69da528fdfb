import CachekitCore

/// One Redis node as the health report shows it: its role and slots (a single server is one
/// primary serving every slot), its breaker and pool, and a PING's round trip or failure.
public struct RedisNodeHealth: Sendable {
    /// `host:port` (or the redacted URL of a single server): never credentials.
    public var address: String
    public var isPrimary: Bool
    public var slots: Int
    public var reliability: ReliabilitySnapshot?
    /// Set when the PING was answered.
    public var pingNanoseconds: Int?
    /// Why the PING failed.
    public var error: String?

    public init(address: String, isPrimary: Bool, slots: Int) {
        self.address = address
        self.isPrimary = isPrimary
        self.slots = slots
    }

    mutating func ping(_ client: RedisClient) {
        let start = MonotonicClock.preciseNanoseconds()
        do throws(CachekitError) {
            let reply = try client.run { connection, deadline throws(CachekitError) -> RedisValue in
                try connection.call(["PING"], limits: .small, deadline: deadline)
            }
            if case .simple = reply {
                pingNanoseconds = Int(MonotonicClock.preciseNanoseconds() &- start)
            } else {
                error = "unexpected PING reply"
            }
        } catch {
            self.error = error.message
        }
    }
}
