import CachekitCore
import CCachekitHeader
import Glibc

/// Exported to C as `cachekit_lz4_compress_bound`.
@_cdecl("cachekit_lz4_compress_bound") @implementation
public func cachekit_lz4_compress_bound(_ sourceCount: Int) -> Int {
    LZ4Block.compressBound(sourceCount) ?? 0
}

/// Exported to C as `cachekit_lz4_compress`.
@_cdecl("cachekit_lz4_compress") @implementation
public func cachekit_lz4_compress(
    _ source: UnsafePointer<UInt8>?, _ sourceCount: Int,
    _ destination: UnsafeMutablePointer<UInt8>?, _ capacity: Int,
    _ outCount: UnsafeMutablePointer<Int>?
) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        let input = try inputBytes(source, sourceCount, "src")
        let output = try outputBytes(destination, capacity, "dst")
        let out = try required(outCount, "out_len")
        out.pointee = try LZ4Block.compress(input, into: output)
        return .ok
    }
}

/// Exported to C as `cachekit_lz4_decompress`.
@_cdecl("cachekit_lz4_decompress") @implementation
public func cachekit_lz4_decompress(
    _ source: UnsafePointer<UInt8>?, _ sourceCount: Int,
    _ destination: UnsafeMutablePointer<UInt8>?, _ capacity: Int,
    _ outCount: UnsafeMutablePointer<Int>?
) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        let input = try inputBytes(source, sourceCount, "src")
        let output = try outputBytes(destination, capacity, "dst")
        let out = try required(outCount, "out_len")
        out.pointee = try LZ4Block.decompress(input, into: output)
        return .ok
    }
}

/// Exported to C as `cachekit_xxh3_64`.
@_cdecl("cachekit_xxh3_64") @implementation
public func cachekit_xxh3_64(
    _ data: UnsafePointer<UInt8>?, _ count: Int, _ out: UnsafeMutablePointer<UInt64>?
) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        let input = try inputBytes(data, count, "data")
        try required(out, "out").pointee = XXH3.hash64(input)
        return .ok
    }
}

/// Exported to C as `cachekit_envelope_store`.
@_cdecl("cachekit_envelope_store") @implementation
public func cachekit_envelope_store(
    _ data: UnsafePointer<UInt8>?, _ count: Int, _ format: UnsafePointer<CChar>?,
    _ out: UnsafeMutablePointer<cachekit_buffer>?
) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        let input = try inputBytes(data, count, "data")
        let out = try required(out, "out")
        let envelope: OwnedBytes
        if let format {
            let length = strnlen(format, Envelope.maxFormatLength + 1)
            envelope = try Envelope.store(input, format: UnsafeRawBufferPointer(start: format, count: length))
        } else {
            envelope = try defaultFormatBytes { format throws(CachekitError) in
                try Envelope.store(input, format: format)
            }
        }
        deliver(envelope, to: out)
        return .ok
    }
}

/// Exported to C as `cachekit_envelope_retrieve`.
@_cdecl("cachekit_envelope_retrieve") @implementation
public func cachekit_envelope_retrieve(
    _ envelope: UnsafePointer<UInt8>?, _ count: Int, _ out: UnsafeMutablePointer<cachekit_buffer>?,
    _ formatOut: UnsafeMutablePointer<CChar>?, _ formatCapacity: Int
) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        let input = try inputBytes(envelope, count, "envelope")
        let out = try required(out, "out")
        let formatCapacity = try size(formatCapacity, "format_capacity")
        let retrieved = try Envelope.retrieve(input)
        if let formatOut, formatCapacity > 0 {
            let format = retrieved.format
            guard format.count < formatCapacity else {
                throw CachekitError(.bufferTooSmall,
                                    "format tag needs \(format.count &+ 1) bytes, format_capacity is \(formatCapacity)")
            }
            if let base = input.baseAddress {
                (base + format.lowerBound).withMemoryRebound(to: CChar.self, capacity: format.count) {
                    formatOut.update(from: $0, count: format.count)
                }
            }
            formatOut[format.count] = 0
        }
        deliver(retrieved.takeData(), to: out)
        return .ok
    }
}

private func defaultFormatBytes<R: ~Copyable>(
    _ body: (UnsafeRawBufferPointer) throws(CachekitError) -> R
) throws(CachekitError) -> R {
    let format: StaticString = "msgpack"
    return try body(UnsafeRawBufferPointer(start: format.utf8Start, count: format.utf8CodeUnitCount))
}
