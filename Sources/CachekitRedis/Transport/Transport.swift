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
    private static let chunkSize = 16_384

    private init(socket: StreamSocket) { self.socket = socket }

    /// Connects, and for TLS completes the handshake, all before `deadline`.
    static func open(
        to address: RedisAddress, tls: TLSContext?, serverName: String?, deadline: Deadline
    ) throws(CacheKitError) -> Transport {
        let transport = Transport(socket: try StreamSocket.connect(to: address, deadline: deadline))
        guard let tls else { return transport }
        do throws(CacheKitError) {
            try transport.startTLS(tls, serverName: serverName, deadline: deadline)
        } catch {
            transport.closeDescriptorOnly()
            throw error
        }
        return transport
    }

    private func startTLS(_ tls: TLSContext, serverName: String?, deadline: Deadline) throws(CacheKitError) {
        ERR_clear_error()
        guard let ssl = SSL_new(tls.context), let input = BIO_new(BIO_s_mem()), let output = BIO_new(BIO_s_mem()) else {
            throw CacheKitError(.tls, "could not create a TLS session: \(drainOpenSSLErrors())")
        }
        SSL_set_bio(ssl, input, output)  // the session owns both BIOs from here
        session = ssl
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
                throw CacheKitError(.tls, "could not set the TLS server name: \(drainOpenSSLErrors())")
            }
            if tls.settings.checksHostname {
                let checked = isAddress
                    ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), serverName)
                    : SSL_set1_host(ssl, serverName)
                guard checked == 1 else {
                    throw CacheKitError(.tls, "could not set the host name to verify: \(drainOpenSSLErrors())")
                }
            }
        } else if tls.settings.checksHostname {
            throw CacheKitError(.invalidConfig, "TLS host name check needs a host name (set ssl_check_hostname=false for a unix socket)")
        }
        while true {
            let result = SSL_do_handshake(ssl)
            try flushOutgoing(deadline: deadline, during: "the TLS handshake")
            if result == 1 { return }
            let reason = SSL_get_error(ssl, result)
            guard reason == SSL_ERROR_WANT_READ else { throw handshakeFailure(ssl) }
            let received: Int?
            do throws(CacheKitError) { received = try fillIncoming(deadline: deadline) } catch {
                throw CacheKitError(.tls, "TLS handshake with \(socket.address) failed: the server closed the connection (is this a TLS port?)")
            }
            guard received != nil else {
                throw CacheKitError(.backendTimeout, "TLS handshake with \(socket.address) did not finish within the connect timeout")
            }
        }
    }

    private func handshakeFailure(_ ssl: OpaquePointer) -> CacheKitError {
        let verify = SSL_get_verify_result(ssl)
        let detail = drainOpenSSLErrors()
        if verify != Int(X509_V_OK) {
            let why = String(cString: X509_verify_cert_error_string(verify))
            return CacheKitError(.tls, "TLS certificate of \(socket.address) refused: \(why) (\(detail))")
        }
        return CacheKitError(.tls, "TLS handshake with \(socket.address) failed: \(detail)")
    }

    /// Writes every byte of `buffers` before the deadline.
    func write(_ buffers: [UnsafeRawBufferPointer], deadline: Deadline) throws(CacheKitError) {
        guard let ssl = session else {
            try socket.sendAll(buffers, deadline: deadline)
            return
        }
        for buffer in buffers {
            var offset = 0
            while offset < buffer.count {
                // Encrypt a chunk at a time, so the ciphertext waiting in memory stays small.
                let length = min(buffer.count &- offset, Self.chunkSize &* 4)
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

    /// Reads what is available into `buffer`, waiting up to the deadline: the count, or nil
    /// when the deadline passed with nothing read.
    func read(into buffer: UnsafeMutableRawBufferPointer, deadline: Deadline) throws(CacheKitError) -> Int? {
        guard let ssl = session else { return try socket.receive(into: buffer, deadline: deadline) }
        while true {
            var count = 0
            ERR_clear_error()
            let result = SSL_read_ex(ssl, buffer.baseAddress, buffer.count, &count)
            if result == 1 { return count }
            let reason = SSL_get_error(ssl, result)
            if reason == SSL_ERROR_ZERO_RETURN {
                throw CacheKitError(.backendUnavailable, "Redis at \(socket.address) closed the TLS connection")
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
    private func recoverFromTLSStall(_ ssl: OpaquePointer, result: Int32, deadline: Deadline, during what: String) throws(CacheKitError) {
        switch SSL_get_error(ssl, result) {
        case SSL_ERROR_WANT_READ:
            try flushOutgoing(deadline: deadline, during: what)
            guard try fillIncoming(deadline: deadline) != nil else {
                throw CacheKitError(.backendTimeout, "TLS \(what) with \(socket.address) did not finish before the deadline")
            }
        case SSL_ERROR_WANT_WRITE:
            try flushOutgoing(deadline: deadline, during: what)
        case SSL_ERROR_ZERO_RETURN:
            throw CacheKitError(.backendUnavailable, "Redis at \(socket.address) closed the TLS connection")
        default:
            throw CacheKitError(.tls, "TLS error during \(what) with \(socket.address): \(drainOpenSSLErrors())")
        }
    }

    /// Moves bytes from the socket into OpenSSL's input: nil when the deadline passed first.
    private func fillIncoming(deadline: Deadline) throws(CacheKitError) -> Int? {
        var scratch = [UInt8](repeating: 0, count: Self.chunkSize)
        let outcome = scratch.withUnsafeMutableBytes { raw in
            Result { () throws(CacheKitError) -> Int? in
                guard let received = try socket.receive(into: raw, deadline: deadline) else { return nil }
                guard BIO_write(incoming, raw.baseAddress, Int32(received)) == Int32(received) else {
                    throw CacheKitError(.outOfMemory, "could not buffer \(received) TLS bytes")
                }
                return received
            }
        }
        return try outcome.get()
    }

    /// Sends what OpenSSL has produced (records, alerts, handshake messages).
    private func flushOutgoing(deadline: Deadline, during what: String) throws(CacheKitError) {
        guard let outgoing else { return }
        var scratch = [UInt8](repeating: 0, count: Self.chunkSize &* 4)
        while BIO_ctrl_pending(outgoing) > 0 {
            let outcome = scratch.withUnsafeMutableBytes { raw in
                Result { () throws(CacheKitError) -> Bool in
                    let count = BIO_read(outgoing, raw.baseAddress, Int32(raw.count))
                    guard count > 0 else { return false }
                    try socket.sendAll([UnsafeRawBufferPointer(rebasing: raw[0..<Int(count)])], deadline: deadline)
                    return true
                }
            }
            guard try outcome.get() else { return }
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

    /// Closes this process's descriptor and nothing else: no byte is written.
    func closeDescriptorOnly() {
        socket.closeDescriptor()
    }

    deinit {
        // Frees the session's memory only (memory BIOs: nothing reaches the socket).
        if let session { SSL_free(session) }
    }

    static func isIPAddress(_ text: String) -> Bool {
        var storage = in6_addr()
        return inet_pton(AF_INET, text, &storage) == 1 || inet_pton(AF_INET6, text, &storage) == 1
    }
}
