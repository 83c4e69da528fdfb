import CachekitABI
import CCachekitHeader
import Glibc

// libFuzzer harness over the exported C functions (scripts/fuzz.sh). The first input byte picks
// the function; the rest is its input. Any trap, sanitizer report or broken invariant is a crash.

typealias FuzzTarget = @Sendable (UnsafeRawBufferPointer) -> Void

/// One keyring for the whole run (a fixed test key: nothing secret here).
nonisolated(unsafe) let fuzzKeyring: OpaquePointer? = {
    var keyring: OpaquePointer?
    _ = cachekit_keyring_new(String(repeating: "ab", count: 32), nil, &keyring)
    return keyring
}()

let targets: [FuzzTarget] = [
    // Envelope reader on arbitrary bytes.
    { input in
        var out = cachekit_buffer(data: nil, len: 0)
        var format = [CChar](repeating: 0, count: 8)
        _ = cachekit_envelope_retrieve(input.baseAddress?.assumingMemoryBound(to: UInt8.self), input.count,
                                       &out, &format, format.count)
        cachekit_buffer_free(&out)
    },
    // LZ4 block decoder on arbitrary bytes, into a buffer sized by the first two bytes.
    { input in
        guard input.count >= 2 else { return }
        let capacity = Int(input[0]) << 8 | Int(input[1])
        var output = [UInt8](repeating: 0, count: capacity)
        var written = 0
        let block = UnsafeRawBufferPointer(rebasing: input[2...])
        _ = cachekit_lz4_decompress(block.baseAddress?.assumingMemoryBound(to: UInt8.self), block.count,
                                    &output, capacity, &written)
        if written > capacity { fatalError("decoder wrote past its capacity") }
    },
    // Store then retrieve: every value must round-trip exactly.
    { input in
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
    },
    // Decryption of arbitrary payloads: the first byte splits AAD from payload; must never succeed
    // (forging a GCM tag by mutation is not possible) and never crash.
    { input in
        guard let first = input.first else { return }
        let aadCount = min(Int(first), input.count - 1)
        let aad = UnsafeRawBufferPointer(rebasing: input[1..<(1 + aadCount)])
        let payload = UnsafeRawBufferPointer(rebasing: input[(1 + aadCount)...])
        var out = cachekit_buffer(data: nil, len: 0)
        let status = cachekit_keyring_decrypt(
            fuzzKeyring, "tenant", payload.baseAddress?.assumingMemoryBound(to: UInt8.self), payload.count,
            aad.baseAddress?.assumingMemoryBound(to: UInt8.self), aad.count, nil, &out)
        if status == CACHEKIT_OK { fatalError("a mutated payload authenticated") }
    },
    // Entry decoding (keys section): the first byte picks mode and keyring; the rest is a stored value.
    { input in
        guard let first = input.first else { return }
        let value = UnsafeRawBufferPointer(rebasing: input[1...])
        var out = cachekit_buffer(data: nil, len: 0)
        let keyring = first & 4 != 0 ? fuzzKeyring : nil
        _ = cachekit_entry_decode(value.baseAddress?.assumingMemoryBound(to: UInt8.self), value.count,
                                  Int32(first % 4), "t:default:k", keyring, nil, UInt32(first >> 3) & 1, &out)
        cachekit_buffer_free(&out)
    },
    // MessagePack reader: validate, then walk every item; a valid document re-encodes as an
    // interop entry and decodes back byte for byte.
    { input in
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
    },
    // Cache keys from arbitrary argument bytes; interop keys must stay within 194 characters.
    { input in
        var key = cachekit_buffer(data: nil, len: 0)
        let data = input.baseAddress?.assumingMemoryBound(to: UInt8.self)
        _ = cachekit_key_auto("ns", "m.f", data, input.count, nil, 0, 1, nil, &key)
        cachekit_buffer_free(&key)
        if cachekit_key_interop("ns1", "op", data, input.count, &key) == CACHEKIT_OK, key.len > 194 {
            fatalError("interop key longer than 194 characters")
        }
        cachekit_buffer_free(&key)
    },
    // The writer: bytes drive a sequence of writes; a finished document must pass the reader.
    { input in
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
    },
]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let data, size > 0 else { return 0 }
    let selector = Int(data[0]) % targets.count
    targets[selector](UnsafeRawBufferPointer(start: data + 1, count: size - 1))
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
