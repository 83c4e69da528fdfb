import CachekitCore
import Glibc

/// A loopback listener that misbehaves on purpose: every accepted connection is handed to
/// `behaviour` on the listener's thread. Stopped (listener and the live connection closed) by
/// `stop()` or on deinit.
final class FaultServer: @unchecked Sendable {
    let port: Int
    private let listener: Int32
    private let stopped = Locked(false)
    private var thread: pthread_t?

    init(_ behaviour: @escaping @Sendable (_ connection: Int32, _ server: FaultServer) -> Void) throws {
        (listener, port) = try openLoopbackListener(backlog: 8)
        let fd = listener
        thread = startThread { [self] in
            while !self.shouldStop {
                var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&entry, 1, 50) > 0 else { continue }
                let connection = accept(fd, nil, nil)
                guard connection >= 0 else { continue }
                behaviour(connection, self)
                close(connection)
            }
        }
    }

    var shouldStop: Bool { stopped.withLock { $0 } }

    func stop() {
        let already = stopped.withLock { (value: inout Bool) -> Bool in
            defer { value = true }
            return value
        }
        if !already, let thread {
            pthread_join(thread, nil)
            close(listener)
        }
    }

    deinit { stop() }

    // Helpers for behaviours.

    /// Reads what the client sent (a command) within `milliseconds`; false when the peer closed.
    @discardableResult
    static func readRequest(_ connection: Int32, milliseconds: Int32 = 2_000) -> Bool {
        var entry = pollfd(fd: connection, events: Int16(POLLIN), revents: 0)
        guard poll(&entry, 1, milliseconds) > 0 else { return true }
        var buffer = [UInt8](repeating: 0, count: 65_536)
        return recv(connection, &buffer, buffer.count, 0) > 0
    }

    /// Sends bytes; the count written before an error.
    @discardableResult
    static func write(_ connection: Int32, _ bytes: [UInt8]) -> Int {
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if count <= 0 { break }
            sent += count
        }
        return sent
    }

    /// Waits until the peer closes (or `milliseconds` pass, or the server stops).
    static func waitForPeerClose(_ connection: Int32, server: FaultServer, milliseconds: Int = 10_000) {
        var waited = 0
        var buffer = [UInt8](repeating: 0, count: 4_096)
        while waited < milliseconds, !server.shouldStop {
            var entry = pollfd(fd: connection, events: Int16(POLLIN), revents: 0)
            if poll(&entry, 1, 50) > 0 {
                if recv(connection, &buffer, buffer.count, 0) <= 0 { return }
            }
            waited += 50
        }
    }
}

/// A pthread running `body` (joined by the owner).
/// A listening TCP socket on 127.0.0.1 at a port the kernel picks, and that port.
func openLoopbackListener(backlog: Int32) throws -> (descriptor: Int32, port: Int) {
    let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard listener >= 0 else { throw TestFailure("socket failed") }
    var on: Int32 = 1
    _ = setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
    var address = loopbackAddress(port: 0)
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0, listen(listener, backlog) == 0 else {
        close(listener)
        throw TestFailure("bind/listen failed")
    }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
    }
    return (listener, Int(UInt16(bigEndian: address.sin_port)))
}

func startThread(_ body: @escaping @Sendable () -> Void) -> pthread_t? {
    final class Box { let body: @Sendable () -> Void; init(_ body: @escaping @Sendable () -> Void) { self.body = body } }
    let context = Unmanaged.passRetained(Box(body)).toOpaque()
    var thread = pthread_t()
    let created = pthread_create(&thread, nil, { raw in
        guard let raw else { return nil }
        let box = Unmanaged<Box>.fromOpaque(raw).takeRetainedValue()
        box.body()
        return nil
    }, context)
    return created == 0 ? thread : nil
}
