import Testing
@testable import CachekitCore

/// `CacheKeys.autoKeyBytes` (cachekit_key_auto's path) gives the `String` path's key, NUL
/// terminated, or its failure, on names that take the byte path and names that need cleaning.
@Suite struct AutoKeyBytesTests {
    // f(42, "alice", {"offset": 0, "limit": 10}), kwargs {"verbose": true}
    static let args: [UInt8] = [0x93, 0x2a, 0xa5] + Array("alice".utf8) + [0x82, 0xa6] + Array("offset".utf8) + [0x00, 0xa5]
        + Array("limit".utf8) + [0x0a]
    static let kwargs: [UInt8] = [0x81, 0xa7] + Array("verbose".utf8) + [0xc3]

    static func viaString(_ namespace: String?, _ function: String, _ args: [UInt8], _ kwargs: [UInt8], _ integrity: Bool,
                          _ serializer: String?) -> Result<[UInt8], CachekitError> {
        do throws(CachekitError) {
            let key = try withBytes(args) { a throws(CachekitError) in
                try withBytes(kwargs) { k throws(CachekitError) in
                    try CacheKeys.autoKey(namespace: namespace, function: function, argumentBytes: a, keywordArgumentBytes: k,
                                          integrity: integrity, serializer: serializer ?? "default")
                }
            }
            return .success(Array(key.utf8) + [0])
        } catch { return .failure(error) }
    }

    static func viaBytes(_ namespace: String?, _ function: String, _ args: [UInt8], _ kwargs: [UInt8], _ integrity: Bool,
                         _ serializer: String?) -> Result<[UInt8], CachekitError> {
        let ns = namespace.map { Array($0.utf8) }, fn = Array(function.utf8), ser = serializer.map { Array($0.utf8) }
        func optional<R>(_ bytes: [UInt8]?, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
            guard let bytes else { return body(nil) }
            return bytes.withUnsafeBytes { body($0) }
        }
        return optional(ns) { n in fn.withUnsafeBytes { f in optional(ser) { s in args.withUnsafeBytes { a in kwargs.withUnsafeBytes { k in
            do throws(CachekitError) {
                return .success(try CacheKeys.autoKeyBytes(namespace: n, function: f, argumentBytes: a, keywordArgumentBytes: k,
                                                           integrity: integrity, serializer: s).array)
            } catch { return .failure(error) }
        } } } } }
    }

    static let longName = String(repeating: "a", count: 201)
    static let cases: [(String?, String, Bool, String?)] = [
        ("app", "app.users.get_user", true, nil), (nil, "f", false, nil), ("", "f", true, "default"),
        ("app", "m.f", true, "std"), ("app", "m.f", true, "standard"), ("app", "m.f", false, "auto"), ("app", "m.f", true, "pythonic"),
        ("app", "m.f", true, "orjson"), ("app", "m.f", true, "arrow"), ("app", "m.f", true, "local"), ("app", "m.f", true, "custom"),
        ("app", "m.f", true, ""), ("my app", "m.f", true, nil), ("app\n", "m.f", true, nil), ("ünï", "m.f", true, nil),
        ("app", "m..f", true, nil), ("app", "m-f <lambda>", true, nil), ("app", longName, true, nil),
        (String(repeating: "n", count: 150), String(repeating: "f", count: 100), true, nil),
    ]

    @Test func sameKeyAsTheStringPath() {
        for (namespace, function, integrity, serializer) in Self.cases {
            let expected = Self.viaString(namespace, function, Self.args, Self.kwargs, integrity, serializer)
            let actual = Self.viaBytes(namespace, function, Self.args, Self.kwargs, integrity, serializer)
            switch (expected, actual) {
            case let (.success(a), .success(b)): #expect(a == b, "\(function) \(serializer ?? "-")")
            case let (.failure(a), .failure(b)): #expect(a.status == b.status && a.message == b.message)
            default: Issue.record("paths disagree for \(namespace ?? "nil") \(function) \(serializer ?? "-")")
            }
        }
    }

    /// Malformed or non-canonical arguments fail the same way on both paths.
    @Test func sameFailures() {
        let documents: [([UInt8], [UInt8])] = [
            ([0x93, 0x01], []), ([0x81, 0xa1, 0x61, 0x01], []), ([0x91, 0xd4, 0x01, 0x00], []), ([0x90], [0x91, 0x01]),
            ([0x91, 0x82, 0xa1, 0x61, 0x01, 0xa1, 0x61, 0x02], []), ([0x91, 0x81, 0x01, 0x02], []), ([0x90, 0x90], []),
        ]
        for (args, kwargs) in documents {
            let expected = Self.viaString("app", "m.f", args, kwargs, true, nil)
            let actual = Self.viaBytes("app", "m.f", args, kwargs, true, nil)
            switch (expected, actual) {
            case let (.failure(a), .failure(b)): #expect(a.status == b.status && a.message == b.message)
            default: Issue.record("expected both paths to fail for \(args) \(kwargs)")
            }
        }
    }
}
