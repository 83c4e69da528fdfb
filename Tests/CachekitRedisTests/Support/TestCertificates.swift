import Glibc

/// A CA, a server certificate for localhost and 127.0.0.1, a client certificate, and a second
/// CA that signed none of them, made with the openssl CLI in a temp dir.
final class TestCertificates: @unchecked Sendable {
    let directory: String
    var caCertificate: String { "\(directory)/ca.crt" }
    var otherCACertificate: String { "\(directory)/other-ca.crt" }
    var serverCertificate: String { "\(directory)/server.crt" }
    var serverKey: String { "\(directory)/server.key" }
    var clientCertificate: String { "\(directory)/client.crt" }
    var clientKey: String { "\(directory)/client.key" }

    init() throws {
        directory = try makeTemporaryDirectory(prefix: "ck-conn-tls")
        try makeCA("ca")
        try makeCA("other-ca")
        try makeLeaf("server", subject: "/CN=localhost",
                     extensions: "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
        try makeLeaf("client", subject: "/CN=cachekit-test-client",
                     extensions: "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n")
    }

    private func openssl(_ arguments: [String]) throws {
        guard try run("/usr/bin/openssl", arguments) == 0 else {
            throw TestFailure("openssl \(arguments.joined(separator: " ")) failed")
        }
    }

    private func makeCA(_ name: String) throws {
        try openssl([
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", "\(directory)/\(name).key", "-out", "\(directory)/\(name).crt", "-days", "2",
            "-subj", "/CN=cachekit test \(name)",
        ])
    }

    private func makeLeaf(_ name: String, subject: String, extensions: String) throws {
        let extensionsFile = "\(directory)/\(name).ext"
        try writeFile(extensionsFile, extensions)
        try openssl([
            "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", "\(directory)/\(name).key", "-out", "\(directory)/\(name).csr", "-subj", subject,
        ])
        try openssl([
            "x509", "-req", "-in", "\(directory)/\(name).csr", "-CA", caCertificate, "-CAkey", "\(directory)/ca.key",
            "-CAcreateserial", "-out", "\(directory)/\(name).crt", "-days", "2", "-extfile", extensionsFile,
        ])
    }

    /// redis-server arguments serving TLS with these files.
    func serverArguments(authClients: String) -> [String] {
        [
            "--tls-cert-file", serverCertificate, "--tls-key-file", serverKey,
            "--tls-ca-cert-file", caCertificate, "--tls-auth-clients", authClients,
        ]
    }

    deinit { removeTree(directory) }
}

func writeFile(_ path: String, _ text: String) throws {
    guard let file = fopen(path, "w") else { throw TestFailure("could not write \(path)") }
    defer { fclose(file) }
    guard fputs(text, file) >= 0 else { throw TestFailure("could not write \(path)") }
}
