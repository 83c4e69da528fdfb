import CachekitCore
import CSSL
import Glibc

/// One OpenSSL `SSL_CTX` for one set of TLS settings, shared by every connection made with
/// them (an `SSL_CTX` is safe to use from many threads once configured). The CA file and the
/// client certificate are read once, when the context is made.
public final class TLSContext: @unchecked Sendable {  // immutable after init; SSL_CTX is thread-safe for SSL_new
    let context: OpaquePointer
    public let settings: TLSSettings

    /// The live context for `settings`, made on first use. Contexts are held weakly here, so a
    /// cache freed and made again (new certificate files on disk) reads the files again.
    public static func shared(for settings: TLSSettings) throws(CachekitError) -> TLSContext {
        try liveContexts.withLock { (contexts: inout [TLSSettings: WeakContext]) throws(CachekitError) -> TLSContext in
            if let live = contexts[settings]?.context { return live }
            let made = try TLSContext(settings: settings)
            contexts = contexts.filter { $0.value.context != nil }
            contexts[settings] = WeakContext(context: made)
            return made
        }
    }

    private final class WeakContext {
        weak var context: TLSContext?
        init(context: TLSContext) { self.context = context }
    }

    private static let liveContexts = Locked<[TLSSettings: WeakContext]>([:])

    public init(settings: TLSSettings) throws(CachekitError) {
        ERR_clear_error()
        guard let made = SSL_CTX_new(TLS_client_method()) else {
            throw CachekitError(.tls, "could not create a TLS context: \(drainOpenSSLErrors())")
        }
        context = made
        self.settings = settings
        // TLS 1.2 or later, as Python's default context.
        _ = SSL_CTX_ctrl(made, SSL_CTRL_SET_MIN_PROTO_VERSION, Int(TLS1_2_VERSION), nil)
        // An encrypted key would otherwise make OpenSSL prompt on the host's terminal.
        SSL_CTX_set_default_passwd_cb(made) { _, _, _, _ in 0 }
        SSL_CTX_set_verify(made, settings.verifiesPeer ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nil)
        if settings.verifiesPeer {
            if let caFile = settings.caCertificatesPath {
                guard SSL_CTX_load_verify_locations(made, caFile, nil) == 1 else {
                    throw CachekitError(.invalidConfig, "ssl_ca_certs: could not load CA certificates from \(escapedForMessage(caFile)): \(drainOpenSSLErrors())")
                }
            } else if SSL_CTX_set_default_verify_paths(made) != 1 {
                throw CachekitError(.tls, "could not load the system CA store: \(drainOpenSSLErrors())")
            }
        }
        if settings.certificatePath != nil || settings.keyPath != nil {
            guard let certificateFile = settings.certificatePath else {
                throw CachekitError(.invalidConfig, "ssl_keyfile needs ssl_certfile (the client certificate)")
            }
            guard SSL_CTX_use_certificate_chain_file(made, certificateFile) == 1 else {
                throw CachekitError(.invalidConfig, "ssl_certfile: could not load the client certificate from \(escapedForMessage(certificateFile)): \(drainOpenSSLErrors())")
            }
            let keyFile = settings.keyPath ?? certificateFile
            guard SSL_CTX_use_PrivateKey_file(made, keyFile, SSL_FILETYPE_PEM) == 1 else {
                throw CachekitError(.invalidConfig, "ssl_keyfile: could not load the client key from \(escapedForMessage(keyFile)) (an encrypted key is not supported): \(drainOpenSSLErrors())")
            }
            guard SSL_CTX_check_private_key(made) == 1 else {
                throw CachekitError(.invalidConfig, "ssl_keyfile: the client key does not match the client certificate")
            }
        }
    }

    deinit { SSL_CTX_free(context) }
}

/// OpenSSL's error queue of this thread as one line (library and reason strings only: OpenSSL
/// puts no key material or plaintext there), emptied.
func drainOpenSSLErrors() -> String {
    var reasons: [String] = []
    while true {
        let code = ERR_get_error()
        if code == 0 { break }
        if reasons.count < 4 {
            var text = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &text, text.count)
            reasons.append(String(decoding: text.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
    }
    return reasons.isEmpty ? "no OpenSSL detail" : reasons.joined(separator: "; ")
}
