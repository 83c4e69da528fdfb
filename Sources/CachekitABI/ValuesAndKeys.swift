import CachekitCore
import CCachekitHeader
import Glibc

// The keys section of include/cachekit.h: MessagePack writer and reader for hosts, cache keys.

/// A string handed to C in a cachekit_buffer, NUL-terminated (len excludes the NUL).
func deliverString(_ text: String, to out: UnsafeMutablePointer<cachekit_buffer>) throws(CachekitError) {
    let utf8 = Array(text.utf8)
    let owned = try OwnedBytes(uninitializedCount: utf8.count &+ 1)
    for (index, byte) in utf8.enumerated() { owned.base[index] = byte }
    owned.base[utf8.count] = 0
    let (pointer, _) = owned.take()
    out.pointee = cachekit_buffer(data: pointer, len: utf8.count)
}

/// A MessagePack argument document decoded as a tree (NULL/0 -> `empty`).
private func argumentTree(
    _ pointer: UnsafePointer<UInt8>?, _ count: Int, _ name: StaticString, empty: MessagePackValue
) throws(CachekitError) -> MessagePackValue {
    let bytes = try inputBytes(pointer, count, name)
    guard bytes.count > 0 else { return empty }
    let value = try MessagePackValue.decode(bytes, depthLimit: MessagePackValue.defaultTreeDepthLimit)
    switch (value, empty) {
    case (.array, .array), (.map, .map): return value
    default:
        throw CachekitError(.typeMismatch, "\(name) must be a MessagePack \(empty.typeName), got \(value.typeName)")
    }
}

// MARK: Writer

private func builder(_ handle: OpaquePointer?) throws(CachekitError) -> MessagePackWriter {
    try object(handle, as: MessagePackWriter.self, "writer")
}

private func write(_ handle: OpaquePointer?, _ body: (MessagePackWriter) throws(CachekitError) -> Void) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        try body(try builder(handle))
        return .ok
    }
}

/// Exported to C as `cachekit_msgpack_writer_new`.
@_cdecl("cachekit_msgpack_writer_new") @implementation
public func cachekit_msgpack_writer_new(_ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        let out = try required(out, "out")
        try handOut(MessagePackWriter(), to: out)
        return .ok
    }
}

/// Exported to C as `cachekit_msgpack_writer_free`.
@_cdecl("cachekit_msgpack_writer_free") @implementation
public func cachekit_msgpack_writer_free(_ handle: OpaquePointer?) {
    releaseHandle(handle, as: MessagePackWriter.self, "writer")
}

/// Exported to C as `cachekit_msgpack_writer_reset`.
@_cdecl("cachekit_msgpack_writer_reset") @implementation
public func cachekit_msgpack_writer_reset(_ handle: OpaquePointer?) {
    guard handle != nil else { return }
    do throws(CachekitError) { try builder(handle).reset() } catch { recordError(error) }
}

/// Exported to C as `cachekit_msgpack_write_nil`.
@_cdecl("cachekit_msgpack_write_nil") @implementation
public func cachekit_msgpack_write_nil(_ handle: OpaquePointer?) -> Int32 {
    write(handle) { (b) throws(CachekitError) in try b.writeNil() }
}

/// Exported to C as `cachekit_msgpack_write_bool`.
@_cdecl("cachekit_msgpack_write_bool") @implementation
public func cachekit_msgpack_write_bool(_ handle: OpaquePointer?, _ value: Int32) -> Int32 {
    write(handle) { (b) throws(CachekitError) in try b.writeBool(value != 0) }
}

/// Exported to C as `cachekit_msgpack_write_int`.
@_cdecl("cachekit_msgpack_write_int") @implementation
public func cachekit_msgpack_write_int(_ handle: OpaquePointer?, _ value: Int64) -> Int32 {
    write(handle) { (b) throws(CachekitError) in try b.writeInt(value) }
}

/// Exported to C as `cachekit_msgpack_write_uint`.
@_cdecl("cachekit_msgpack_write_uint") @implementation
public func cachekit_msgpack_write_uint(_ handle: OpaquePointer?, _ value: UInt64) -> Int32 {
    write(handle) { (b) throws(CachekitError) in try b.writeUInt(value) }
}

/// Exported to C as `cachekit_msgpack_write_float64`.
@_cdecl("cachekit_msgpack_write_float64") @implementation
public func cachekit_msgpack_write_float64(_ handle: OpaquePointer?, _ value: Double) -> Int32 {
    write(handle) { (b) throws(CachekitError) in try b.writeFloat64(value) }
}

/// Exported to C as `cachekit_msgpack_write_float32`.
@_cdecl("cachekit_msgpack_write_float32") @implementation
public func cachekit_msgpack_write_float32(_ handle: OpaquePointer?, _ value: Float) -> Int32 {
    write(handle) { (b) throws(CachekitError) in try b.writeFloat32(value) }
}

/// Exported to C as `cachekit_msgpack_write_str`.
@_cdecl("cachekit_msgpack_write_str") @implementation
public func cachekit_msgpack_write_str(_ handle: OpaquePointer?, _ text: UnsafePointer<CChar>?, _ count: Int) -> Int32 {
    write(handle) { (b) throws(CachekitError) in
        try b.writeString(try inputBytes(UnsafeRawPointer(text)?.assumingMemoryBound(to: UInt8.self), count, "text"))
    }
}

/// Exported to C as `cachekit_msgpack_write_bin`.
@_cdecl("cachekit_msgpack_write_bin") @implementation
public func cachekit_msgpack_write_bin(_ handle: OpaquePointer?, _ data: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
    write(handle) { (b) throws(CachekitError) in try b.writeBinary(try inputBytes(data, count, "data")) }
}

/// Exported to C as `cachekit_msgpack_write_ext`.
@_cdecl("cachekit_msgpack_write_ext") @implementation
public func cachekit_msgpack_write_ext(
    _ handle: OpaquePointer?, _ type: Int8, _ data: UnsafePointer<UInt8>?, _ count: Int
) -> Int32 {
    write(handle) { (b) throws(CachekitError) in try b.writeExtension(type: type, data: try inputBytes(data, count, "data")) }
}

/// Exported to C as `cachekit_msgpack_write_array`.
@_cdecl("cachekit_msgpack_write_array") @implementation
public func cachekit_msgpack_write_array(_ handle: OpaquePointer?, _ count: Int) -> Int32 {
    write(handle) { (b) throws(CachekitError) in try b.writeArray(count: try size(count, "count")) }
}

/// Exported to C as `cachekit_msgpack_write_map`.
@_cdecl("cachekit_msgpack_write_map") @implementation
public func cachekit_msgpack_write_map(_ handle: OpaquePointer?, _ count: Int) -> Int32 {
    write(handle) { (b) throws(CachekitError) in try b.writeMap(count: try size(count, "count")) }
}

/// Exported to C as `cachekit_msgpack_write_raw`.
@_cdecl("cachekit_msgpack_write_raw") @implementation
public func cachekit_msgpack_write_raw(_ handle: OpaquePointer?, _ data: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
    write(handle) { (b) throws(CachekitError) in try b.writeRaw(try inputBytes(data, count, "msgpack")) }
}

/// Exported to C as `cachekit_msgpack_writer_finish`.
@_cdecl("cachekit_msgpack_writer_finish") @implementation
public func cachekit_msgpack_writer_finish(_ handle: OpaquePointer?, _ out: UnsafeMutablePointer<cachekit_buffer>?) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        let builder = try builder(handle)
        let out = try required(out, "out")
        let document = try builder.finished()
        let owned = try withBytes(document) { raw throws(CachekitError) in try OwnedBytes(copying: raw) }
        deliver(owned, to: out)
        return .ok
    }
}

// MARK: Reader

private func documentReader(_ handle: OpaquePointer?) throws(CachekitError) -> MessagePackReader {
    try object(handle, as: MessagePackReader.self, "reader")
}

/// Exported to C as `cachekit_msgpack_reader_new`.
@_cdecl("cachekit_msgpack_reader_new") @implementation
public func cachekit_msgpack_reader_new(
    _ data: UnsafePointer<UInt8>?, _ count: Int, _ out: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        let input = try inputBytes(data, count, "data")
        let out = try required(out, "out")
        let reader = try MessagePackReader(copying: input)
        try handOut(reader, to: out)
        return .ok
    }
}

/// Exported to C as `cachekit_msgpack_reader_free`.
@_cdecl("cachekit_msgpack_reader_free") @implementation
public func cachekit_msgpack_reader_free(_ handle: OpaquePointer?) {
    releaseHandle(handle, as: MessagePackReader.self, "reader")
}

/// Exported to C as `cachekit_msgpack_reader_next`.
@_cdecl("cachekit_msgpack_reader_next") @implementation
public func cachekit_msgpack_reader_next(
    _ handle: OpaquePointer?, _ item: UnsafeMutablePointer<cachekit_msgpack_item>?
) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        let document = try documentReader(handle)
        let item = try required(item, "item")
        var result = cachekit_msgpack_item()
        if document.decoder.isAtEnd {
            result.type = CACHEKIT_MSGPACK_END
            item.pointee = result
            return .ok
        }
        let base = document.storage.base
        func span(_ range: Range<Int>) {
            result.data = UnsafePointer(base + range.lowerBound)
            result.len = range.count
        }
        switch try document.decoder.next() {
        case .nil: result.type = CACHEKIT_MSGPACK_NIL
        case .bool(let b): result.type = CACHEKIT_MSGPACK_BOOL; result.boolean = b ? 1 : 0
        case .int(let i):
            if i < 0 { result.type = CACHEKIT_MSGPACK_INT; result.i64 = i } else { result.type = CACHEKIT_MSGPACK_UINT; result.u64 = UInt64(i) }
        case .uint(let u): result.type = CACHEKIT_MSGPACK_UINT; result.u64 = u
        case .float32(let f): result.type = CACHEKIT_MSGPACK_FLOAT32; result.f64 = Double(f)
        case .float64(let d): result.type = CACHEKIT_MSGPACK_FLOAT64; result.f64 = d
        case .str(let range): result.type = CACHEKIT_MSGPACK_STR; span(range)
        case .bin(let range): result.type = CACHEKIT_MSGPACK_BIN; span(range)
        case .ext(let type, let range): result.type = CACHEKIT_MSGPACK_EXT; result.ext_type = type; span(range)
        case .array(let count): result.type = CACHEKIT_MSGPACK_ARRAY; result.count = count
        case .map(let count): result.type = CACHEKIT_MSGPACK_MAP; result.count = count
        }
        item.pointee = result
        return .ok
    }
}

/// Exported to C as `cachekit_msgpack_reader_skip`.
@_cdecl("cachekit_msgpack_reader_skip") @implementation
public func cachekit_msgpack_reader_skip(_ handle: OpaquePointer?) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        let document = try documentReader(handle)
        if !document.decoder.isAtEnd { try document.decoder.skip(depthLimit: MessagePackValidator.maxNesting) }
        return .ok
    }
}

// MARK: Keys

/// Exported to C as `cachekit_key_auto`.
@_cdecl("cachekit_key_auto") @implementation
public func cachekit_key_auto(
    _ namespace: UnsafePointer<CChar>?, _ function: UnsafePointer<CChar>?,
    _ args: UnsafePointer<UInt8>?, _ argsCount: Int, _ kwargs: UnsafePointer<UInt8>?, _ kwargsCount: Int,
    _ integrity: Int32, _ serializer: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<cachekit_buffer>?
) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        let namespace = try optionalUTF8Bytes(namespace, "namespace_")
        let function = try requiredUTF8Bytes(function, "function_id")
        let serializer = try optionalUTF8Bytes(serializer, "serializer")
        let out = try required(out, "out")
        let key = try CacheKeys.autoKeyBytes(namespace: namespace, function: function,
                                             argumentBytes: try inputBytes(args, argsCount, "args"),
                                             keywordArgumentBytes: try inputBytes(kwargs, kwargsCount, "kwargs"),
                                             integrity: integrity != 0, serializer: serializer)
        let (pointer, count) = key.take()
        out.pointee = cachekit_buffer(data: pointer, len: max(count &- 1, 0))  // the NUL is not counted
        return .ok
    }
}

/// Exported to C as `cachekit_key_interop`.
@_cdecl("cachekit_key_interop") @implementation
public func cachekit_key_interop(
    _ namespace: UnsafePointer<CChar>?, _ operation: UnsafePointer<CChar>?,
    _ args: UnsafePointer<UInt8>?, _ argsCount: Int, _ out: UnsafeMutablePointer<cachekit_buffer>?
) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        let namespace = try requiredUTF8(namespace, "namespace_")
        let operation = try requiredUTF8(operation, "operation")
        let out = try required(out, "out")
        let arguments = try argumentTree(args, argsCount, "args", empty: .array([]))
        let key = try CacheKeys.interopKey(namespace: namespace, operation: operation, arguments: arguments)
        try deliverString(key, to: out)
        return .ok
    }
}

/// Exported to C as `cachekit_key_tenant_prefixed`.
@_cdecl("cachekit_key_tenant_prefixed") @implementation
public func cachekit_key_tenant_prefixed(
    _ tenant: UnsafePointer<CChar>?, _ key: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<cachekit_buffer>?
) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        let tenant = try tenantString(tenant)
        let key = try requiredUTF8(key, "key")
        let out = try required(out, "out")
        try deliverString(CacheKeys.tenantPrefixed(key, tenant: tenant), to: out)
        return .ok
    }
}
