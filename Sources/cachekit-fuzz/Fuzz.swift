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
