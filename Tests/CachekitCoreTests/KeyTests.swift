import Testing
@testable import CachekitCore

@Suite struct KeyTests {
    @Test func allCacheKeyVectorsMatch() throws {
        let vectors = try #require(try KeyVectors.json("cache-keys.json")["vectors"]?.array)
        #expect(vectors.count == 10)
        for vector in vectors {
            let module = try #require(vector["function_module"]?.string)
            let qualname = try #require(vector["function_qualname"]?.string)
            let key = try CacheKeys.autoKey(
                namespace: vector["namespace"]?.string, function: module + "." + qualname,
                arguments: try #require(vector["args"]).messagePack,
                keywordArguments: try #require(vector["kwargs"]).messagePack,
                integrity: vector["integrity_checking"]?.bool == true,
                serializer: try #require(vector["serializer_type"]?.string))
            #expect(key == vector["expected_key"]?.string, "\(vector["name"]?.string ?? "?")")
        }
    }

    @Test func argumentsHashOfF42() throws {
        let hash = try CacheKeys.argumentsHash(arguments: .array([.uint(42)]), keywordArguments: nil)
        #expect(hash == "3870b2ea5735ae639ded9450ef117768db676f037bec636503796c5b81095153")
    }

    @Test func canonicalizationSortsMapsAndNormalizesFloats() throws {
        let value: MessagePackValue = .map([.init(.string("b"), .float32(1.5)), .init(.string("a"), .float64(-0.0))])
        #expect(try Canonical.encode(value, profile: .autoArguments)
                == [0x82, 0xa1, 0x61, 0xcb, 0, 0, 0, 0, 0, 0, 0, 0, 0xa1, 0x62, 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0])
        // Interop arguments collapse integral floats; values keep them as float64.
        #expect(try Canonical.encode(.array([.float64(2.0), .float64(-0.0), .float64(2.5)]), profile: .interopArguments)
                == [0x93, 0x02, 0x00, 0xcb, 0x40, 0x04, 0, 0, 0, 0, 0, 0])
        #expect(try Canonical.encode(.float64(2.0), profile: .interopValue) == [0xcb, 0x40, 0, 0, 0, 0, 0, 0, 0])
    }

    @Test func canonicalizationRefusesWhatNoPeerCanHash() {
        let cases: [(MessagePackValue, CanonicalProfile, Status)] = [
            (.map([.init(.uint(1), .nil)]), .autoArguments, .invalidMapKey),
            (.map([.init(.string("a"), .nil), .init(.string("a"), .nil)]), .autoArguments, .invalidMapKey),
            (.ext(type: 5, data: [1]), .autoArguments, .unsupportedValue),
            (.float64(.nan), .interopArguments, .unsupportedValue),
            (.float64(.infinity), .interopValue, .unsupportedValue),
        ]
        for (value, profile, status) in cases {
            #expect(throws: CachekitError.self) { try Canonical.encode(value, profile: profile) }
            do { _ = try Canonical.encode(value, profile: profile) } catch { #expect(error.status == status) }
        }
    }

    @Test func functionNamesAreSanitizedLikePython() {
        #expect(CacheKeys.sanitizeFunctionName("mod.outer.<locals>.inner") == "mod.outer._locals_.inner")
        #expect(CacheKeys.sanitizeFunctionName("a..b...c") == "a.b.c")
        #expect(CacheKeys.sanitizeFunctionName("m.<lambda>") == "m._lambda_")
        #expect(CacheKeys.sanitizeFunctionName("m.é") == "m._")
        #expect(CacheKeys.sanitizeFunctionName(String(repeating: "a", count: 300)).count == 200)
    }

    @Test func longKeysAreShortenedByCharacters() throws {
        let namespace = String(repeating: "é", count: 300)
        let key = try CacheKeys.autoKey(namespace: namespace, function: "m.f", arguments: .array([]),
                                        keywordArguments: nil, integrity: true)
        // 50 characters of the normalized key, ":", 32 hex.
        #expect(key.unicodeScalars.count == 83)
        #expect(key.hasPrefix("ns:" + String(repeating: "é", count: 47) + ":"))
        let spaced = try CacheKeys.autoKey(namespace: "a b\nc\rd", function: "m.f", arguments: .array([]),
                                           keywordArguments: nil, integrity: false)
        #expect(spaced.hasPrefix("ns:a_b_c_d:func:m.f:args:"))
        #expect(spaced.hasSuffix(":0s"))
    }

    @Test func serializerCodes() throws {
        #expect(try CacheKeys.serializerCode("std") == "s")
        #expect(try CacheKeys.serializerCode("default") == "s")
        #expect(try CacheKeys.serializerCode("pythonic") == "a")
        #expect(try CacheKeys.serializerCode("custom").hasPrefix("x"))
        #expect(try CacheKeys.serializerCode("custom").count == 5)
    }

    @Test func tenantPrefixIsPercentEncoded() {
        #expect(CacheKeys.tenantPrefixed("k", tenant: "default") == "t:default:k")
        #expect(CacheKeys.tenantPrefixed("k", tenant: "a:b/c é") == "t:a%3Ab%2Fc%20%C3%A9:k")
    }

    @Test func interopKeysAndSegments() throws {
        let key = try CacheKeys.interopKey(namespace: "oracle", operation: "dict-simple", arguments: .array([.uint(42)]))
        #expect(key == "oracle:dict-simple:61598716255080080f6456eb065c2e51badfaa4320b0efe97469c29cffee8875")
        // A float 42.0 argument hashes like the int 42.
        #expect(try CacheKeys.interopKey(namespace: "oracle", operation: "dict-simple", arguments: .array([.float64(42)])) == key)
        for (namespace, operation) in [("Users", "get"), ("ns", "get"), ("nsapi", "x"), ("a..b", "get"), ("users", "_get"),
                                       ("", "get"), ("users", String(repeating: "a", count: 65)), ("users", "get\n")] {
            do {
                _ = try CacheKeys.interopKey(namespace: namespace, operation: operation, arguments: .array([]))
                Issue.record("accepted \(namespace):\(operation)")
            } catch {
                #expect(error.status == .invalidSegment)
            }
        }
        #expect(try CacheKeys.interopKey(namespace: "ns.v2", operation: "ns", arguments: .array([])).hasPrefix("ns.v2:ns:"))
    }
}
