import CachekitCore
import Glibc

/// A fake cluster node on loopback for the redirect and retry bounds: every connection gets a
/// thread of its own (the client's map refresh opens one beside its pooled connections), every
/// command (a RESP array of bulk strings, pipelined or not) is answered with the raw RESP that
/// `answer` returns, and the commands received are counted by name.
final class ScriptedClusterNode: @unchecked Sendable {  // counts and threads behind locks
    let port: Int
    private let listener: Int32
    private let stopped = Locked(false)
    private let received = Locked<[String: Int]>([:])
    private let connections = Locked<[Int32]>([])
    private let threads = Locked<[pthread_t]>([])
    private var acceptThread: pthread_t?
    private let answer: @Sendable ([String]) -> String

    init(_ answer: @escaping @Sendable (_ command: [String]) -> String) throws {
        self.answer = answer
        (listener, port) = try openLoopbackListener(backlog: 64)
        acceptThread = startThread({ [self] in acceptLoop() })
    }

    var address: RedisHostPort { RedisHostPort(host: "127.0.0.1", port: port) }

    /// `*N` of CLUSTER SLOTS giving every slot to `owner`.
    static func allSlots(to owner: RedisHostPort) -> String {
        "*1\r\n*3\r\n:0\r\n:16383\r\n*3\r\n$\(owner.host.utf8.count)\r\n\(owner.host)\r\n:\(owner.port)\r\n$2\r\nid\r\n"
    }

    func count(_ name: String) -> Int { received.withLock { $0[name, default: 0] } }

    private var shouldStop: Bool { stopped.withLock { $0 } }

    private func acceptLoop() {
        while !shouldStop {
            var entry = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard poll(&entry, 1, 50) > 0 else { continue }
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else { continue }
            connections.withLock { $0.append(connection) }
            if let thread = startThread({ [self] in serve(connection) }) { threads.withLock { $0.append(thread) } }
        }
    }

    private func serve(_ connection: Int32) {
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while !shouldStop {
            var entry = pollfd(fd: connection, events: Int16(POLLIN), revents: 0)
            guard poll(&entry, 1, 50) > 0 else { continue }
            let count = recv(connection, &buffer, buffer.count, 0)
            guard count > 0 else { return }
            pending += buffer[0..<count]
            var replies = ""
            while let (command, used) = Self.parseCommand(pending) {
                pending.removeFirst(used)
                received.withLock { $0[command.first?.uppercased() ?? "", default: 0] += 1 }
                replies += answer(command)
            }
            _ = FaultServer.write(connection, Array(replies.utf8))
        }
    }

    /// One `*N` array of `$len` bulk strings from the front of `bytes`, and its length; nil
    /// until it has all arrived.
    private static func parseCommand(_ bytes: [UInt8]) -> ([String], Int)? {
        func line(from start: Int) -> (String, Int)? {
            var index = start
            while index + 1 < bytes.count {
                if bytes[index] == 13 && bytes[index + 1] == 10 {
                    return (String(decoding: bytes[start..<index], as: UTF8.self), index + 2)
                }
                index += 1
            }
            return nil
        }
        guard let (header, afterHeader) = line(from: 0), header.hasPrefix("*"), let count = Int(header.dropFirst()) else { return nil }
        var position = afterHeader
        var arguments: [String] = []
        for _ in 0..<count {
            guard let (size, afterSize) = line(from: position), size.hasPrefix("$"), let length = Int(size.dropFirst()),
                  afterSize + length + 2 <= bytes.count else { return nil }
            arguments.append(String(decoding: bytes[afterSize..<(afterSize + length)], as: UTF8.self))
            position = afterSize + length + 2
        }
        return (arguments, position)
    }

    func stop() {
        let already = stopped.withLock { (value: inout Bool) -> Bool in
            defer { value = true }
            return value
        }
        guard !already else { return }
        if let acceptThread { pthread_join(acceptThread, nil) }  // no connection thread starts after it
        for thread in threads.withLock({ $0 }) { pthread_join(thread, nil) }
        for connection in connections.withLock({ $0 }) { close(connection) }
        close(listener)
    }

    deinit { stop() }
}
