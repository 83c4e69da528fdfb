import Glibc

/// Bytes in one `malloc` allocation, owned uniquely. Handed to C callers with `take()`, who
/// release them with `free` (through `cachekit_buffer_free`); otherwise freed on deinit.
/// Allocation failure is a thrown `.outOfMemory`, never a trap.
public struct OwnedBytes: ~Copyable {
    public private(set) var base: UnsafeMutablePointer<UInt8>
    public private(set) var count: Int

    /// Allocates `count` uninitialized bytes (at least one byte is allocated, so `base` is never NULL).
    public init(uninitializedCount count: Int) throws(CachekitError) {
        guard count >= 0 else { throw CachekitError(.invalidArgument, "negative allocation size") }
        guard let raw = malloc(max(count, 1)) else {
            throw CachekitError(.outOfMemory, "could not allocate \(count) bytes")
        }
        base = raw.assumingMemoryBound(to: UInt8.self)
        self.count = count
    }

    public init(copying bytes: UnsafeRawBufferPointer) throws(CachekitError) {
        try self.init(uninitializedCount: bytes.count)
        if let src = bytes.baseAddress, bytes.count > 0 {
            base.update(from: src.assumingMemoryBound(to: UInt8.self), count: bytes.count)
        }
    }

    /// Shrinks the logical length (the allocation is kept).
    public mutating func truncate(to newCount: Int) {
        if newCount >= 0 && newCount <= count { count = newCount }
    }

    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }
    public var mutableBytes: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: base, count: count)
    }

    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(bytes)
    }

    public var array: [UInt8] { Array(UnsafeBufferPointer(start: base, count: count)) }

    /// Gives up ownership: the caller must `free` the pointer.
    public consuming func take() -> (pointer: UnsafeMutablePointer<UInt8>, count: Int) {
        let result = (base, count)
        discard self
        return result
    }

    deinit { free(base) }
}

/// `Array.withUnsafeBytes` with a typed throw (the standard one rethrows `any Error`), for
/// noncopyable results too.
@inline(__always)
public func withBytes<R: ~Copyable>(
    _ array: [UInt8], _ body: (UnsafeRawBufferPointer) throws(CachekitError) -> R
) throws(CachekitError) -> R {
    var failure: CachekitError?
    var result: R?
    array.withUnsafeBytes { raw in
        do throws(CachekitError) { result = try body(raw) } catch { failure = error }
    }
    if let failure { throw failure }
    switch consume result {
    case .some(let value): return value
    case .none: throw CachekitError(.internal, "withBytes produced no result")
    }
}

// Uniquely owned malloc bytes: moving them to another thread is safe.
extension OwnedBytes: @unchecked Sendable {}
