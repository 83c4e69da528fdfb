import CachekitCore
import Glibc
import Synchronization

/// What a connection needs to be opened: where, as whom, which db, and TLS or not.
public struct RedisConnectionOptions: Sendable {
    public var address: RedisAddress
    public var username: String?
    public var password: SecretBytes?
    public var database: Int
    /// Non-nil: TLS is required (never a fallback to plaintext).
    public var tls: TLSContext?
    /// The name the server's certificate must carry and the SNI sent; defaults to the host of
    /// a TCP address. Set it when connecting to an address another name resolved to.
    public var tlsServerName: String?

    public init(address: RedisAddress, username: String? = nil, password: SecretBytes? = nil,
                database: Int = 0, tls: TLSContext? = nil) {
        self.address = address
        self.username = username
        self.password = password
        self.database = database
        self.tls = tls
        if case .tcp(let target) = address { tlsServerName = target.host }
    }

    /// The options a `redis://`, `rediss://` or unix URL gives (a Sentinel URL names no
    /// single server: discover the master first, then build options for it).
    public init(url: RedisURL) throws(CachekitError) {
        let address: RedisAddress
        switch url.target {
        case .tcp(let target): address = .tcp(target)
        case .unix(let path): address = .unix(path: path)
        case .sentinel:
            throw CachekitError(.invalidConfig, "a Sentinel URL names no single server: discover the master first")
        case .cluster(let seeds):
            // A seed is where the slot map is asked for; ClusterClient opens each node by its address.
            guard let first = seeds.first else { throw CachekitError(.invalidConfig, "a cluster URL needs at least one node") }
            address = .tcp(first)
        }
        self.init(address: address, username: url.username, password: url.password, database: url.database,
                  tls: try url.tls.map { (settings: TLSSettings) throws(CachekitError) in try TLSContext.shared(for: settings) })
    }
}

/// One connection to a Redis server: our transport (TCP, unix or TLS, every wait bounded by
/// the call's deadline), hiredis's RESP formatter and reader, replies bounded by `ReplyLimits`.
///
/// One caller at a time (the pool hands it out); the internal lock only keeps a misuse from
/// interleaving two commands' bytes. After any failure mid-call the stream is out of step:
/// `isReusable` turns false and every later call fails at once.
public final class RedisConnection: PooledConnection, @unchecked Sendable {  // mutable state is behind `state`
    public let ownerProcess: pid_t
    public let address: RedisAddress
    private let transport: Transport
    private let state: Locked<ReplyReader>
    private let broken = Atomic<Bool>(false)
    private let closed = Atomic<Bool>(false)
    /// Cluster redirects seen by the last exchange, and ASKING mode (Cluster/ClusterClient.swift);
    /// the flags keep a call that meets neither (every call on a single server) off the lock.
    private let cluster = Locked(ClusterExchange())
    private let asking = Atomic<Bool>(false)
    private let holdsSignal = Atomic<Bool>(false)

    private init(transport: Transport, reader: ReplyReader, address: RedisAddress) {
        self.transport = transport
        self.state = Locked(reader)
        self.address = address
        self.ownerProcess = ProcessIdentity.current
    }

    public var isReusable: Bool { !broken.load(ordering: .acquiring) && !closed.load(ordering: .acquiring) }

    /// Connects (TCP to each resolved address in turn, or the unix socket), completes the TLS
    /// handshake, then AUTH and SELECT: all before `deadline` (the connect timeout).
    /// Refused credentials are `.backendAuth`; a TLS failure `.tls`; the deadline `.backendTimeout`.
    public static func open(_ options: RedisConnectionOptions, deadline: Deadline) throws(CachekitError) -> RedisConnection {
        let transport = try Transport.open(to: options.address, tls: options.tls, serverName: options.tlsServerName, deadline: deadline)
        let reader: ReplyReader
        do throws(CachekitError) { reader = try ReplyReader(password: options.password) } catch {
            transport.closeDescriptorOnly()
            throw error
        }
        let connection = RedisConnection(transport: transport, reader: reader, address: options.address)
        do throws(CachekitError) {
            let authenticated = try connection.authenticate(options, deadline: deadline)
            if options.tls != nil, !authenticated, options.database == 0 {
                // Under TLS 1.3 a server refusing the client certificate says so only after the
                // handshake: one round trip here reports it as `.tls` at open, not at first use.
                _ = try connection.call(["PING"], limits: .small, deadline: deadline)
            }
            if options.database != 0 {
                let reply = try connection.call(["SELECT", .integer(Int64(options.database))], limits: .small, deadline: deadline)
                if case .error(let text) = reply {
                    throw CachekitError(.backendError, "Redis at \(options.address) refused SELECT \(options.database): \(text)")
                }
            }
        } catch {
            connection.close()
            if options.tls != nil, error.status == .backendUnavailable {
                // A TLS 1.3 server refusing the client's certificate (or its absence) sends its
                // alert after the handshake and resets; the reset often wins over the alert.
                throw CachekitError(.tls, "Redis at \(options.address) dropped the TLS connection right after the handshake "
                    + "(does it require a client certificate? ssl_certfile/ssl_keyfile): \(error.message)")
            }
            throw error
        }
        return connection
    }

    /// redis-py's order: `AUTH username password` when there is a username (the password may
    /// be empty), `AUTH password` otherwise, nothing when neither is set.
    /// True when AUTH was sent.
    private func authenticate(_ options: RedisConnectionOptions, deadline: Deadline) throws(CachekitError) -> Bool {
        guard options.username != nil || options.password != nil else { return false }
        let empty = UnsafeRawBufferPointer(start: nil, count: 0)
        let reply: RedisValue = try withPassword(options.password) { secret throws(CachekitError) in
            var arguments: [RedisArgument] = ["AUTH"]
            if let username = options.username { arguments.append(.text(username)) }
            arguments.append(.borrowed(secret ?? empty))
            let command = try FormattedCommand.format(arguments, carriesSecret: true)
            return try transport.cleansingPlaintext { () throws(CachekitError) -> RedisValue in
                try exchangeOne(command, limits: .small, deadline: deadline)
            }
        }
        if case .error = reply {
            let who = options.username.map { " for user '\(escapedForMessage($0, limit: 64))'" } ?? ""
            throw CachekitError(.backendAuth, "Redis at \(options.address) refused the credentials\(who)")
        }
        return true
    }

    private func withPassword<R>(
        _ password: SecretBytes?, _ body: (UnsafeRawBufferPointer?) throws(CachekitError) -> R
    ) throws(CachekitError) -> R {
        guard let password else { return try body(nil) }
        return try password.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) throws(CachekitError) -> R in try body(bytes) }
    }

    /// Sends one command and reads its reply, all before `deadline`. A server error comes back
    /// as `.error(text)` (sanitized); the connection stays usable then. Transport failures
    /// throw (`.backendUnavailable`, `.backendTimeout`, `.tls`, `.replyTooLarge`) and break it.
    public func call(_ arguments: [RedisArgument], limits: ReplyLimits, deadline: Deadline) throws(CachekitError) -> RedisValue {
        let command = try FormattedCommand.format(arguments)
        return try exchangeOne(command, limits: limits, deadline: deadline)
    }

    /// Sends every command in one write, then reads one reply per command; `deadline` bounds
    /// the whole batch. `limits` apply to each reply.
    public func pipeline(_ commands: [[RedisArgument]], limits: ReplyLimits, deadline: Deadline) throws(CachekitError) -> [RedisValue] {
        guard !commands.isEmpty else { return [] }
        var formatted: [FormattedCommand] = []
        formatted.reserveCapacity(commands.count)
        for arguments in commands { formatted.append(try FormattedCommand.format(arguments)) }
        return try exchange(formatted, limits: limits, deadline: deadline)
    }

    /// For a subscriber: writes a command without reading its reply (SUBSCRIBE's confirmations
    /// arrive through `readReply`).
    public func send(_ arguments: [RedisArgument], deadline: Deadline) throws(CachekitError) {
        let command = try FormattedCommand.format(arguments)
        try state.withLock { (_: inout ReplyReader) throws(CachekitError) in
            try usable()
            try failing { () throws(CachekitError) in try transport.write([command.bytes], deadline: deadline) }
        }
    }

    /// For a subscriber: the next reply or pushed message, or nil when the deadline passes
    /// before any byte of one arrived (idle is not a failure). A reply begun but not finished
    /// by the deadline is `.backendTimeout` and breaks the connection.
    public func readReply(limits: ReplyLimits, deadline: Deadline) throws(CachekitError) -> RedisValue? {
        try state.withLock { (reader: inout ReplyReader) throws(CachekitError) -> RedisValue? in
            try usable()
            return try failing { () throws(CachekitError) -> RedisValue? in
                try readOne(reader, answering: nil, limits: limits, deadline: deadline, idleIsNil: true)
            }
        }
    }

    private func exchangeOne(_ command: FormattedCommand, limits: ReplyLimits, deadline: Deadline) throws(CachekitError) -> RedisValue {
        guard let reply = try exchange([command], limits: limits, deadline: deadline).first else {
            throw CachekitError(.internal, "Redis exchange returned no reply")
        }
        return reply
    }

    private func exchange(_ commands: [FormattedCommand], limits: ReplyLimits, deadline: Deadline) throws(CachekitError) -> [RedisValue] {
        if holdsSignal.exchange(false, ordering: .acquiringAndReleasing) { cluster.withLock { $0.signal = nil } }
        let asking = asking.load(ordering: .acquiring)
        let sent = asking ? try ClusterExchange.askingBefore(commands) : commands
        var replies = try exchangeOnStream(sent, limits: limits, deadline: deadline)
        if asking { replies = ClusterExchange.droppingAskingReplies(replies) }
        if let signal = ClusterExchange.firstSignal(in: replies, from: address) {
            cluster.withLock { $0.signal = signal }
            holdsSignal.store(true, ordering: .releasing)
        }
        return replies
    }

    /// The first cluster redirect or retry signal the last call or pipeline received (a node's
    /// MOVED, ASK, TRYAGAIN or CLUSTERDOWN error reply), nil when none.
    public var clusterSignal: ClusterSignal? {
        holdsSignal.load(ordering: .acquiring) ? cluster.withLock { $0.signal } : nil
    }

    /// While set, every command is preceded by ASKING (its reply dropped): the commands of one
    /// call that an ASK redirect sent to a slot's importing node.
    public func setAsking(_ on: Bool) { asking.store(on, ordering: .releasing) }

    private func exchangeOnStream(_ commands: [FormattedCommand], limits: ReplyLimits, deadline: Deadline) throws(CachekitError) -> [RedisValue] {
        try state.withLock { (reader: inout ReplyReader) throws(CachekitError) -> [RedisValue] in
            try usable()
            return try failing { () throws(CachekitError) -> [RedisValue] in
                try write(commands, reader, deadline: deadline)
                return try readReplies(to: commands, reader, limits: limits, deadline: deadline)
            }
        }
    }

    private func write(_ commands: [FormattedCommand], _ reader: ReplyReader, deadline: Deadline) throws(CachekitError) {
        // Bytes before the command (a reply sent twice, or one that came after its call
        // gave up) would be read as its reply: another key's value for a GET.
        guard !reader.holdsUnreadBytes, !transport.hasUnreadBytes else {
            throw CachekitError(.backendUnavailable,
                                "Redis at \(address) sent bytes no command asked for: the connection is out of step")
        }
        try transport.write(commands.map(\.bytes), deadline: deadline)
    }

    private func readReplies(to commands: [FormattedCommand], _ reader: ReplyReader, limits: ReplyLimits,
                             deadline: Deadline) throws(CachekitError) -> [RedisValue] {
        var replies: [RedisValue] = []
        replies.reserveCapacity(commands.count)
        for command in commands {
            if let reply = try readOne(reader, answering: command.name, limits: limits, deadline: deadline, idleIsNil: false) {
                replies.append(reply)
            }
        }
        // More than was asked for came with the replies: never reuse this stream.
        if reader.holdsUnreadBytes { breakStream() }
        return replies
    }

    /// A pipeline written by `send(pipeline:)` whose replies `receive` has still to read.
    public final class PendingReplies {
        fileprivate let commands: [FormattedCommand]
        fileprivate init(_ commands: [FormattedCommand]) { self.commands = commands }
    }

    /// The first half of `pipeline`: writes the commands and returns without reading, so a
    /// caller can write to several servers before it waits for any (a cluster get_many). The
    /// connection serves nothing else until `receive` has read the replies (a caller that
    /// cannot must close it: the stream is out of step).
    public func send(pipeline commands: [[RedisArgument]], deadline: Deadline) throws(CachekitError) -> PendingReplies {
        var formatted: [FormattedCommand] = []
        formatted.reserveCapacity(commands.count)
        for arguments in commands { formatted.append(try FormattedCommand.format(arguments)) }
        try state.withLock { (reader: inout ReplyReader) throws(CachekitError) in
            try usable()
            try failing { () throws(CachekitError) in try write(formatted, reader, deadline: deadline) }
        }
        return PendingReplies(formatted)
    }

    /// The second half of `pipeline`: one reply per command `send` wrote, each within `limits`.
    public func receive(_ pending: PendingReplies, limits: ReplyLimits, deadline: Deadline) throws(CachekitError) -> [RedisValue] {
        try state.withLock { (reader: inout ReplyReader) throws(CachekitError) -> [RedisValue] in
            try usable()
            return try failing { () throws(CachekitError) -> [RedisValue] in
                try readReplies(to: pending.commands, reader, limits: limits, deadline: deadline)
            }
        }
    }

    /// Reads until one whole reply is decoded. Bytes are scanned against `limits` before
    /// hiredis buffers them; the deadline bounds the whole reply, not each read.
    private func readOne(
        _ reader: ReplyReader, answering name: [UInt8]?, limits: ReplyLimits, deadline: Deadline, idleIsNil: Bool
    ) throws(CachekitError) -> RedisValue? {
        while true {
            if let reply = try reader.nextReply(answering: name) {
                if reader.lastReplyRepeatedCredentials { transport.wipeReceived() }
                return reply
            }
            guard let received = try transport.read(deadline: deadline) else {
                if idleIsNil && reader.isAtReplyBoundary { return nil }
                throw CachekitError(.backendTimeout, "Redis at \(address) did not send a whole reply before the deadline")
            }
            try reader.feed(received, limits: limits)
        }
    }

    private func usable() throws(CachekitError) {
        guard isReusable else {
            throw CachekitError(.backendUnavailable, "Redis connection to \(address) is closed after an earlier failure")
        }
    }

    /// Any failure leaves the stream out of step: mark the connection broken and drop the
    /// socket now, so a refused reply's remaining bytes are never read.
    private func failing<R>(_ body: () throws(CachekitError) -> R) throws(CachekitError) -> R {
        do throws(CachekitError) { return try body() } catch {
            breakStream()
            throw error
        }
    }

    private func breakStream() {
        broken.store(true, ordering: .releasing)
        if closed.exchange(true, ordering: .acquiringAndReleasing) == false { transport.closeDescriptorOnly() }
    }

    public func close() {
        guard closed.exchange(true, ordering: .acquiringAndReleasing) == false else { return }
        state.withLock { _ in transport.close() }
    }

    /// Closes this process's descriptor only, without the lock (a thread of the parent may
    /// have held it at fork()) and without writing: the parent's connection is untouched.
    public func abandonAfterFork() {
        guard closed.exchange(true, ordering: .acquiringAndReleasing) == false else { return }
        transport.closeDescriptorOnly()
    }

    deinit {
        if closed.exchange(true, ordering: .acquiringAndReleasing) == false { transport.closeDescriptorOnly() }
    }
}
