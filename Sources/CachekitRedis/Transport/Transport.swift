import CachekitCore
import CSSL
import Glibc

/// The byte stream under a connection: a socket, plain or wrapped in TLS.
///
/// TLS runs over two memory BIOs rather than on the descriptor: OpenSSL never touches the
/// socket, every byte in or out goes through `StreamSocket` (poll-bounded by the deadline, and
/// `MSG_NOSIGNAL`, so a peer's reset cannot raise SIGPIPE in the host), and a connection
/// abandoned after fork() is let go without OpenSSL writing anything.
final class Transport {
    let socket: StreamSocket
    private var session: OpaquePointer?  // SSL*
    private var incoming: OpaquePointer?  // BIO* the socket's bytes go into
    private var outgoing: OpaquePointer?  // BIO* OpenSSL's records come out of
    /// Replies are read into `incomingBuffer`; TLS records move through `recordBuffer`. Both
    /// are allocated once per connection, not per call.
    private let incomingBuffer: UnsafeMutableRawBufferPointer
    private let recordBuffer: UnsafeMutableRawBufferPointer
    private static let bufferSize = 65_536

    private init(socket: StreamSocket, incomingBuffer: UnsafeMutableRawBufferPointer, recordBuffer: UnsafeMutableRawBufferPointer) {
        self.socket = socket
        self.incomingBuffer = incomingBuffer
        self.recordBuffer = recordBuffer
    }

    /// Connects, and for TLS completes the handshake, all before `deadline`.
    static func open(
        to address: RedisAddress, tls: TLSContext?, serverName: String?, deadline: Deadline
    ) throws(CachekitError) -> Transport {
        guard let buffers = malloc(bufferSize &* 2) else {
            throw CachekitError(.outOfMemory, "could not allocate a connection's buffers")
        }
        let socket: StreamSocket
        do throws(CachekitError) { socket = try StreamSocket.connect(to: address, deadline: deadline) } catch {
            free(buffers)
            throw error
        }
        let transport = Transport(
            socket: socket, incomingBuffer: UnsafeMutableRawBufferPointer(start: buffers, count: bufferSize),
            recordBuffer: UnsafeMutableRawBufferPointer(start: buffers + bufferSize, count: bufferSize))
        guard let tls else { return transport }
        do throws(CachekitError) {
            try transport.startTLS(tls, serverName: serverName, deadline: deadline)
        } catch {
            transport.closeDescriptorOnly()
            throw error
        }
        return transport
    }

    private func startTLS(_ tls: TLSContext, serverName: String?, deadline: Deadline) throws(CachekitError) {
        ERR_clear_error()
        guard let ssl = SSL_new(tls.context) else {
            throw CachekitError(.tls, "could not create a TLS session: \(drainOpenSSLErrors())")
        }
        session = ssl  // freed in deinit
        let madeInput = BIO_new(BIO_s_mem())
        let madeOutput = BIO_new(BIO_s_mem())
        guard let input = madeInput, let output = madeOutput else {
            _ = BIO_free(madeInput)  // BIO_free(NULL) is a no-op
            _ = BIO_free(madeOutput)
            throw CachekitError(.outOfMemory, "could not create TLS buffers: \(drainOpenSSLErrors())")
        }
        SSL_set_bio(ssl, input, output)  // the session owns both BIOs from here
        incoming = input
        outgoing = output
        SSL_set_connect_state(ssl)
        if let serverName {
            let isAddress = Self.isIPAddress(serverName)
            // SNI for names only (RFC 6066 forbids IP literals there); OpenSSL copies the string.
            let named = isAddress || serverName.withCString {
                SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, Int(TLSEXT_NAMETYPE_host_name), UnsafeMutableRawPointer(mutating: $0)) == 1
            }
            if !named {
                throw CachekitError(.tls, "could not set the TLS server name: \(drainOpenSSLErrors())")
            }
            if tls.settings.checksHostname {
                let checked = isAddress
                    ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), serverName)
                    : SSL_set1_host(ssl, serverName)
                guard checked == 1 else {
                    throw CachekitError(.tls, "could not set the host name to verify: \(drainOpenSSLErrors())")
                }
            }
        } else if tls.settings.checksHostname {
            throw CachekitError(.invalidConfig, "TLS host name check needs a host name (set ssl_check_hostname=false for a unix socket)")
        }
        while true {
            let result = SSL_do_handshake(ssl)
            try flushOutgoing(deadline: deadline, during: "the TLS handshake")
            if result == 1 { return }
            let reason = SSL_get_error(ssl, result)
            guard reason == SSL_ERROR_WANT_READ else { throw handshakeFailure(ssl) }
            let received: Int?
            do throws(CachekitError) { received = try fillIncoming(deadline: deadline) } catch {
                throw CachekitError(.tls, "TLS handshake with \(socket.address) failed: the server closed the connection (is this a TLS port?)")
            }
            guard received != nil else {
                throw CachekitError(.backendTimeout, "TLS handshake with \(socket.address) did not finish within the connect timeout")
            }
        }
    }

    private func handshakeFailure(_ ssl: OpaquePointer) -> CachekitError {
        let verify = SSL_get_verify_result(ssl)
        let detail = drainOpenSSLErrors()
        if verify != Int(X509_V_OK) {
            let why = String(cString: X509_verify_cert_error_string(verify))
            return CachekitError(.tls, "TLS certificate of \(socket.address) refused: \(why) (\(detail))")
        }
        return CachekitError(.tls, "TLS handshake with \(socket.address) failed: \(detail)")
    }

    /// Writes every byte of `buffers` before the deadline.
    func write(_ buffers: [UnsafeRawBufferPointer], deadline: Deadline) throws(CachekitError) {
        guard let ssl = session else {
            try socket.sendAll(buffers, deadline: deadline)
            return
        }
        for buffer in buffers {
            var offset = 0
            while offset < buffer.count {
                // Encrypt a chunk at a time, so the ciphertext waiting in memory stays small.
                let length = min(buffer.count &- offset, Self.bufferSize)
                var written = 0
                ERR_clear_error()
                let result = SSL_write_ex(ssl, buffer.baseAddress.map { $0 + offset }, length, &written)
                if result == 1 {
                    offset &+= written
                    try flushOutgoing(deadline: deadline, during: "a write")
                    continue
                }
                try recoverFromTLSStall(ssl, result: result, deadline: deadline, during: "a write")
            }
        }
        try flushOutgoing(deadline: deadline, during: "a write")
    }

    /// True when the peer sent something not yet read. Under TLS only decrypted bytes count: the
    /// socket may hold records that carry no data (session tickets), and records cannot be
    /// replayed into the stream undetected.
    var hasUnreadBytes: Bool {
        guard let ssl = session else { return socket.isReadableNow() }
        return SSL_pending(ssl) > 0
    }

    /// Reads what is available, waiting up to the deadline: the bytes (valid until the next
    /// read), or nil when the deadline passed with nothing read.
    func read(deadline: Deadline) throws(CachekitError) -> UnsafeRawBufferPointer? {
        guard let count = try read(into: incomingBuffer, deadline: deadline) else { return nil }
        return UnsafeRawBufferPointer(rebasing: incomingBuffer[0..<count])
    }

    private func read(into buffer: UnsafeMutableRawBufferPointer, deadline: Deadline) throws(CachekitError) -> Int? {
        guard let ssl = session else { return try socket.receive(into: buffer, deadline: deadline) }
        while true {
            var count = 0
            ERR_clear_error()
            let result = SSL_read_ex(ssl, buffer.baseAddress, buffer.count, &count)
            if result == 1 { return count }
            let reason = SSL_get_error(ssl, result)
            if reason == SSL_ERROR_ZERO_RETURN {
                throw CachekitError(.backendUnavailable, "Redis at \(socket.address) closed the TLS connection")
            }
            guard reason == SSL_ERROR_WANT_READ else {
                try recoverFromTLSStall(ssl, result: result, deadline: deadline, during: "a read")
                continue
            }
            // TLS 1.3 may want to answer (key update) before more data comes.
            try flushOutgoing(deadline: deadline, during: "a read")
            guard try fillIncoming(deadline: deadline) != nil else { return nil }
        }
    }

    /// After SSL_read/SSL_write did not complete: feed it the bytes it waits for, or fail.
    private func recoverFromTLSStall(_ ssl: OpaquePointer, result: Int32, deadline: Deadline, during what: String) throws(CachekitError) {
        switch SSL_get_error(ssl, result) {
        case SSL_ERROR_WANT_READ:
            try flushOutgoing(deadline: deadline, during: what)
            guard try fillIncoming(deadline: deadline) != nil else {
                throw CachekitError(.backendTimeout, "TLS \(what) with \(socket.address) did not finish before the deadline")
            }
        case SSL_ERROR_WANT_WRITE:
            try flushOutgoing(deadline: deadline, during: what)
        case SSL_ERROR_ZERO_RETURN:
            throw CachekitError(.backendUnavailable, "Redis at \(socket.address) closed the TLS connection")
        default:
            throw CachekitError(.tls, "TLS error during \(what) with \(socket.address): \(drainOpenSSLErrors())")
        }
    }

    /// Moves bytes from the socket into OpenSSL's input: nil when the deadline passed first.
    private func fillIncoming(deadline: Deadline) throws(CachekitError) -> Int? {
        guard let received = try socket.receive(into: recordBuffer, deadline: deadline) else { return nil }
        guard BIO_write(incoming, recordBuffer.baseAddress, Int32(received)) == Int32(received) else {
            throw CachekitError(.outOfMemory, "could not buffer \(received) TLS bytes")
        }
        return received
    }

    /// Sends what OpenSSL has produced (records, alerts, handshake messages).
    private func flushOutgoing(deadline: Deadline, during what: String) throws(CachekitError) {
        guard let outgoing else { return }
        while BIO_ctrl_pending(outgoing) > 0 {
            let count = BIO_read(outgoing, recordBuffer.baseAddress, Int32(recordBuffer.count))
            guard count > 0 else { return }
            try socket.sendAll([UnsafeRawBufferPointer(rebasing: recordBuffer[0..<Int(count)])], deadline: deadline)
        }
    }

    /// Ends the connection politely (TLS close_notify, sent only if the socket takes it now).
    func close() {
        if let ssl = session {
            ERR_clear_error()
            if SSL_shutdown(ssl) >= 0 {
                try? flushOutgoing(deadline: Deadline.after(milliseconds: 0), during: "close")
            }
            ERR_clear_error()
        }
        closeDescriptorOnly()
    }

    /// Wipes the bytes last read into the connection's buffer (a reply that repeated the
    /// credentials; hiredis has already copied them out).
    func wipeReceived() {
        OPENSSL_cleanse(incomingBuffer.baseAddress, incomingBuffer.count)
    }

    /// SSL_OP_CLEANSE_PLAINTEXT (OpenSSL 3.0, a macro Swift cannot import): OpenSSL wipes each
    /// decrypted record once it is read, instead of leaving it in its read buffer.
    private static let cleansePlaintextOption: UInt64 = 1 << 1

    /// Runs `body` (the AUTH exchange, whose reply may repeat the password) with OpenSSL
    /// wiping the plaintext it decrypts; off again afterwards, as it costs a pass per record.
    func cleansingPlaintext<R>(_ body: () throws(CachekitError) -> R) throws(CachekitError) -> R {
        guard let session else { return try body() }
        SSL_set_options(session, Self.cleansePlaintextOption)
        defer { SSL_clear_options(session, Self.cleansePlaintextOption) }
        return try body()
    }

    /// Closes this process's descriptor and nothing else: no byte is written.
    func closeDescriptorOnly() {
        socket.closeDescriptor()
    }

    deinit {
        // Frees the session's memory only (memory BIOs: nothing reaches the socket).
        if let session { SSL_free(session) }
        free(incomingBuffer.baseAddress)
    }

    static func isIPAddress(_ text: String) -> Bool {
        var storage = in6_addr()
        return inet_pton(AF_INET, text, &storage) == 1 || inet_pton(AF_INET6, text, &storage) == 1
    }
}
