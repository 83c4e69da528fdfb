import CachekitCore

/// A connection's cluster state for one exchange (RedisConnection keeps one): the first
/// redirect or retry signal its replies carried; and the ASKING steps.
struct ClusterExchange {
    var signal: ClusterSignal?

    /// ASKING is valid for the one command after it, so each command of a batch gets its own.
    static func askingBefore(_ commands: [FormattedCommand]) throws(CachekitError) -> [FormattedCommand] {
        let asking = try FormattedCommand.format(["ASKING"])
        var sent: [FormattedCommand] = []
        sent.reserveCapacity(commands.count &* 2)
        for command in commands {
            sent.append(asking)
            sent.append(command)
        }
        return sent
    }

    /// The replies to the commands, without the ASKING ones before each.
    static func droppingAskingReplies(_ replies: [RedisValue]) -> [RedisValue] {
        replies.indices.filter { $0 % 2 == 1 }.map { replies[$0] }
    }

    static func firstSignal(in replies: [RedisValue], from address: RedisAddress) -> ClusterSignal? {
        for reply in replies {
            guard case .error(let text) = reply else { continue }
            var node: RedisHostPort?
            if case .tcp(let tcp) = address { node = tcp }
            if let signal = ClusterSignal.parse(text, replyFrom: node) { return signal }
        }
        return nil
    }
}
