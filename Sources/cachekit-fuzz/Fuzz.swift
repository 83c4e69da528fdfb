import CachekitABI
import CCachekitHeader
import Glibc

// libFuzzer harness (scripts/fuzz.sh) over the exported C functions and, in RedisTargets.swift,
// what a Redis server sends. CACHEKIT_FUZZ_TARGET names the one target every input goes to;
// without it the first input byte picks one. Any trap, sanitizer report or broken invariant is a crash.

typealias FuzzTarget = @Sendable (UnsafeRawBufferPointer) -> Void

/// One keyring for the whole run (a fixed test key: nothing secret here).
nonisolated(unsafe) let fuzzKeyring: OpaquePointer? = {
    var keyring: OpaquePointer?
    _ = cachekit_keyring_new(String(repeating: "ab", count: 32), nil, &keyring)
    return keyring
}()

let abiTargets: [(name: String, run: FuzzTarget)] = [
    // Envelope reader on arbitrary bytes.
    ("envelope", { input in
        var out = cachekit_buffer(data: nil, len: 0)
        var format = [CChar](repeating: 0, count: 8)
        _ = cachekit_envelope_retrieve(input.baseAddress?.assumingMemoryBound(to: UInt8.self), input.count,
                                       &out, &format, format.count)
        cachekit_buffer_free(&out)
    }),
    // LZ4 block decoder on arbitrary bytes, into a buffer sized by the first two bytes.
    ("lz4", { input in
        guard input.count >= 2 else { return }
        let capacity = Int(input[0]) << 8 | Int(input[1])
        var output = [UInt8](repeating: 0, count: capacity)
        var written = 0
        let block = UnsafeRawBufferPointer(rebasing: input[2...])
        _ = cachekit_lz4_decompress(block.baseAddress?.assumingMemoryBound(to: UInt8.self), block.count,
                                    &output, capacity, &written)
        if written > capacity { fatalError("decoder wrote past its capacity") }
    }),
    // Store then retrieve: every value must round-trip exactly.
    ("envelope-roundtrip", { input in
        var envelope = cachekit_buffer(data: nil, len: 0)
        var back = cachekit_buffer(data: nil, len: 0)
        let data = input.baseAddress?.assumingMemoryBound(to: UInt8.self)
        guard cachekit_envelope_store(data, input.count, nil, &envelope) == CACHEKIT_OK,
              cachekit_envelope_retrieve(envelope.data, envelope.len, &back, nil, 0) == CACHEKIT_OK,
              back.len == input.count,
              UnsafeRawBufferPointer(start: back.data, count: back.len).elementsEqual(input)
        else { fatalError("envelope round trip failed") }
        cachekit_buffer_free(&envelope)
        cachekit_buffer_free(&back)
    }),
    // Decryption of arbitrary payloads: the first byte splits AAD from payload; must never succeed
    // (forging a GCM tag by mutation is not possible) and never crash.
    ("decrypt", { input in
        guard let first = input.first else { return }
        let aadCount = min(Int(first), input.count - 1)
        let aad = UnsafeRawBufferPointer(rebasing: input[1..<(1 + aadCount)])
        let payload = UnsafeRawBufferPointer(rebasing: input[(1 + aadCount)...])
        var out = cachekit_buffer(data: nil, len: 0)
        let status = cachekit_keyring_decrypt(
            fuzzKeyring, "tenant", payload.baseAddress?.assumingMemoryBound(to: UInt8.self), payload.count,
            aad.baseAddress?.assumingMemoryBound(to: UInt8.self), aad.count, nil, &out)
        if status == CACHEKIT_OK { fatalError("a mutated payload authenticated") }
    }),
    // Entry decoding (keys section): the first byte picks mode and keyring; the rest is a stored value.
    ("entry-decode", { input in
        guard let first = input.first else { return }
        let value = UnsafeRawBufferPointer(rebasing: input[1...])
        var out = cachekit_buffer(data: nil, len: 0)
        let keyring = first & 4 != 0 ? fuzzKeyring : nil
        _ = cachekit_entry_decode(value.baseAddress?.assumingMemoryBound(to: UInt8.self), value.count,
                                  Int32(first % 4), "t:default:k", keyring, nil, UInt32(first >> 3) & 1, &out)
        cachekit_buffer_free(&out)
    }),
    // MessagePack reader: validate, then walk every item; a valid document re-encodes as an
    // interop entry and decodes back byte for byte.
    ("msgpack", { input in
        var reader: OpaquePointer?
        let data = input.baseAddress?.assumingMemoryBound(to: UInt8.self)
        guard cachekit_msgpack_reader_new(data, input.count, &reader) == CACHEKIT_OK else { return }
        var item = cachekit_msgpack_item()
        var steps = 0
        repeat {
            if cachekit_msgpack_reader_next(reader, &item) != CACHEKIT_OK { fatalError("reader_next failed") }
            steps += 1
            if steps > input.count + 1 { fatalError("reader did not end") }
        } while item.type != CACHEKIT_MSGPACK_END
        cachekit_msgpack_reader_free(reader)
        var stored = cachekit_buffer(data: nil, len: 0)
        var back = cachekit_buffer(data: nil, len: 0)
        guard cachekit_entry_encode(data, input.count, CACHEKIT_MODE_INTEROP, "ns:op:h", nil, nil, 0, &stored) == CACHEKIT_OK,
              cachekit_entry_decode(stored.data, stored.len, CACHEKIT_MODE_INTEROP, "ns:op:h", nil, nil, 0, &back) == CACHEKIT_OK,
              UnsafeRawBufferPointer(start: back.data, count: back.len).elementsEqual(input)
        else { fatalError("interop entry round trip failed for a valid document") }
        cachekit_buffer_free(&stored)
        cachekit_buffer_free(&back)
    }),
    // Cache keys from arbitrary argument bytes; interop keys must stay within 194 characters.
    ("keys", { input in
        var key = cachekit_buffer(data: nil, len: 0)
        let data = input.baseAddress?.assumingMemoryBound(to: UInt8.self)
        _ = cachekit_key_auto("ns", "m.f", data, input.count, nil, 0, 1, nil, &key)
        cachekit_buffer_free(&key)
        if cachekit_key_interop("ns1", "op", data, input.count, &key) == CACHEKIT_OK, key.len > 194 {
            fatalError("interop key longer than 194 characters")
        }
        cachekit_buffer_free(&key)
    }),
    // The writer: bytes drive a sequence of writes; a finished document must pass the reader.
    ("msgpack-writer", { input in
        var writer: OpaquePointer?
        guard cachekit_msgpack_writer_new(&writer) == CACHEKIT_OK else { return }
        var index = 0
        while index < input.count {
            let op = input[index]
            index += 1
            let arg = index < input.count ? Int(input[index]) : 0
            switch op % 8 {
            case 0: _ = cachekit_msgpack_write_nil(writer)
            case 1: _ = cachekit_msgpack_write_int(writer, Int64(arg) - 128)
            case 2: _ = cachekit_msgpack_write_array(writer, arg % 4)
            case 3: _ = cachekit_msgpack_write_map(writer, arg % 3)
            case 4:
                let count = min(arg % 8, input.count - index)
                let text = UnsafeRawBufferPointer(rebasing: input[index..<(index + count)])
                _ = cachekit_msgpack_write_str(writer, text.baseAddress?.assumingMemoryBound(to: CChar.self), count)
            case 5: _ = cachekit_msgpack_write_float64(writer, Double(arg) / 3)
            case 6: _ = cachekit_msgpack_write_bin(writer, nil, 0)
            default:
                let raw = UnsafeRawBufferPointer(rebasing: input[index..<(index + min(arg % 8, input.count - index))])
                _ = cachekit_msgpack_write_raw(writer, raw.baseAddress?.assumingMemoryBound(to: UInt8.self), raw.count)
            }
        }
        var document = cachekit_buffer(data: nil, len: 0)
        if cachekit_msgpack_writer_finish(writer, &document) == CACHEKIT_OK {
            var reader: OpaquePointer?
            if cachekit_msgpack_reader_new(document.data, document.len, &reader) != CACHEKIT_OK {
                fatalError("the writer produced a document the reader refuses")
            }
            cachekit_msgpack_reader_free(reader)
        }
        cachekit_buffer_free(&document)
        cachekit_msgpack_writer_free(writer)
    }),
    // Cache configuration (cache section): "name\0value\0name\0value..." set on one config in
    // turn (any option, known or not), each value also as a Redis URL; a config every value was
    // accepted for must build a cache (without a redis_url, which would connect).
    ("config", { input in
        var config: OpaquePointer?
        guard cachekit_config_new(&config) == CACHEKIT_OK else { fatalError("config_new failed") }
        defer { cachekit_config_free(config) }
        let fields = Array(input).split(separator: 0, omittingEmptySubsequences: false)
        var accepted = true
        var pair = 0
        while pair + 1 < max(fields.count, 2), pair < 16 {
            let name: [UInt8] = Array(fields[pair]) + [0]
            let value: [UInt8] = (pair + 1 < fields.count ? Array(fields[pair + 1]) : []) + [0]
            pair += 2
            if name.starts(with: Array("redis_url".utf8)) { continue }
            name.withUnsafeBufferPointer { n in
                value.withUnsafeBufferPointer { v in
                    n.withMemoryRebound(to: CChar.self) { n in
                        v.withMemoryRebound(to: CChar.self) { v in
                            accepted = cachekit_config_set(config, n.baseAddress, v.baseAddress) == CACHEKIT_OK && accepted
                            var url: OpaquePointer?
                            guard cachekit_config_new(&url) == CACHEKIT_OK else { fatalError("config_new failed") }
                            _ = cachekit_config_set(url, "redis_url", v.baseAddress)
                            cachekit_config_free(url)
                        }
                    }
                }
            }
        }
        guard accepted else { return }
        var cache: OpaquePointer?
        let status = cachekit_cache_new(config, &cache)
        if status == CACHEKIT_OK { cachekit_cache_free(cache) }
        // A consistent set of accepted values may still be refused as a whole (secure mode
        // without a key, L1 over memory): only a missing status is a bug.
        if status != CACHEKIT_OK, cache != nil { fatalError("cache_new failed but returned a cache") }
    }),
    // Cache operations on one small L1-only cache: the bytes are a program of gets, sets,
    // deletes, batch gets and namespace invalidations; the bounds must always hold.
    ("cache-ops", { input in
        guard let cache = fuzzCache else { return }
        var i = input.startIndex
        func take(_ n: Int) -> ArraySlice<UInt8> {
            let end = min(i + n, input.endIndex)
            defer { i = end }
            return ArraySlice(input[i..<end])
        }
        while i < input.endIndex {
            let op = input[i]; i += 1
            let key = Array("ns:\(op & 3):".utf8) + Array(take(Int(op >> 4) + 1))
            var out = cachekit_buffer(data: nil, len: 0)
            switch op & 7 {
            case 0, 1:
                let raw = take(Int(op >> 3) * 13)
                let document = [0xc5, UInt8(raw.count >> 8), UInt8(raw.count & 0xff)] + raw
                _ = cachekit_cache_set(cache, key, key.count, document, document.count, Int64(op & 1) - 1)
            case 2: _ = cachekit_cache_get(cache, key, key.count, &out)
            case 3: _ = cachekit_cache_delete(cache, key, key.count)
            case 4: _ = cachekit_cache_exists(cache, key, key.count)
            case 5:
                key.withUnsafeBufferPointer { k in
                    var keys: [UnsafePointer<UInt8>?] = [k.baseAddress, k.baseAddress]
                    var lengths = [k.count, 0]
                    var values = [cachekit_buffer](repeating: cachekit_buffer(data: nil, len: 0), count: 2)
                    var statuses = [Int32](repeating: 0, count: 2)
                    _ = cachekit_cache_get_many(cache, &keys, &lengths, 2, &values, &statuses)
                    for j in 0..<2 { cachekit_buffer_free(&values[j]) }
                }
            case 6: _ = cachekit_cache_invalidate_namespace(cache, "\(op & 3)", nil)
            default:
                let raw = Array(take(3))  // arbitrary bytes as a value: usually refused as not MessagePack
                _ = cachekit_cache_set(cache, key, key.count, raw, raw.count, 0)
            }
            cachekit_buffer_free(&out)
        }
        var stats = cachekit_cache_stats()
        _ = cachekit_cache_stats_get(cache, &stats)
        if stats.l1_bytes > 8192 || stats.l1_entries > 32 { fatalError("L1 bounds broken") }
    }),
]

/// One small L1-only cache for the whole run.
nonisolated(unsafe) let fuzzCache: OpaquePointer? = {
    var config: OpaquePointer?
    var cache: OpaquePointer?
    _ = cachekit_config_new(&config)
    _ = cachekit_config_set(config, "l1_max_bytes", "8192")
    _ = cachekit_config_set(config, "l1_max_entries", "32")
    _ = cachekit_cache_new(config, &cache)
    cachekit_config_free(config)
    return cache
}()

let targets: [(name: String, run: FuzzTarget)] = abiTargets + [
    ("resp-stream", respStreamTarget),
    ("scan-drain", scanAndDrainTarget),
    ("redis-url", redisURLTarget),
    ("invalidation-event", invalidationEventTarget),
    ("cache-read", cacheReadTarget),
    ("connection-read", connectionReadTarget),
    ("cluster-reply", clusterReplyTarget),
]

/// The target CACHEKIT_FUZZ_TARGET names (an unknown name stops the run), or nil to pick by byte.
let selectedTarget: FuzzTarget? = {
    guard let raw = getenv("CACHEKIT_FUZZ_TARGET") else { return nil }
    let name = String(cString: raw)
    guard let found = targets.first(where: { $0.name == name }) else {
        fatalError("CACHEKIT_FUZZ_TARGET \(name) is none of: \(targets.map(\.name).joined(separator: " "))")
    }
    return found.run
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let data, size > 0 else { return 0 }
    if let selectedTarget {
        selectedTarget(UnsafeRawBufferPointer(start: data, count: size))
    } else {
        targets[Int(data[0]) % targets.count].run(UnsafeRawBufferPointer(start: data + 1, count: size - 1))
    }
    return 0
}

// SwiftPM renames an executable's entry point to `<module>_main`; hand control to libFuzzer's driver.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

@_cdecl("cachekit_fuzz_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments, fuzz)
}
