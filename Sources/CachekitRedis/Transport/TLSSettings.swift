import CachekitCore

/// TLS settings of a `rediss://` URL, with redis-py's query parameters and defaults: the peer
/// is verified (`ssl_cert_reqs=required`), its host name or IP checked
/// (`ssl_check_hostname=true`), against the system CA store unless `ssl_ca_certs` names a file.
public struct TLSSettings: Sendable, Hashable {
    public enum CertificateRequirement: String, Sendable, Hashable {
        /// No verification at all: only when the URL asks for it.
        case none
        /// Python's CERT_OPTIONAL: on a client this verifies the server's certificate exactly
        /// as `required` does (a server always presents one).
        case optional
        case required
    }

    public var certificateRequirement: CertificateRequirement = .required
    /// PEM file of the CAs to trust instead of the system store (`ssl_ca_certs`).
    public var caCertificatesPath: String?
    /// Client certificate and key for mutual TLS (`ssl_certfile`, `ssl_keyfile`; the key may
    /// sit in the certificate file, as Python's `load_cert_chain` allows).
    public var certificatePath: String?
    public var keyPath: String?
    /// `ssl_check_hostname`; redis-py turns it off when `ssl_cert_reqs=none`.
    public var checkHostname = true

    public init() {}

    public var verifiesPeer: Bool { certificateRequirement != .none }
    public var checksHostname: Bool { verifiesPeer && checkHostname }

    mutating func apply(name: String, value: String) throws(CachekitError) {
        switch name {
        case "ssl_cert_reqs":
            guard let requirement = CertificateRequirement(rawValue: value) else {
                throw CachekitError(.invalidConfig, "redis URL: 'ssl_cert_reqs' must be none, optional or required")
            }
            certificateRequirement = requirement
        case "ssl_check_hostname":
            // redis-py's to_bool takes 0/f/false/n/no as false and anything else as true;
            // only the spellings it names are accepted here.
            switch value.uppercased() {
            case "0", "F", "FALSE", "N", "NO": checkHostname = false
            case "1", "T", "TRUE", "Y", "YES": checkHostname = true
            default:
                throw CachekitError(.invalidConfig, "redis URL: 'ssl_check_hostname' must be true or false")
            }
        case "ssl_ca_certs": caCertificatesPath = value
        case "ssl_certfile": certificatePath = value
        case "ssl_keyfile": keyPath = value
        default:
            throw CachekitError(.invalidConfig, "redis URL: unknown TLS parameter")
        }
    }
}
