import CachekitCore
import Glibc

// An opaque C handle is a small malloc'd header, {magic, object}: the object is a retained Swift
// object, borrowed by each call and released by its `*_free` (which accepts NULL). The magic names
// the handle's type and is overwritten on free, so the common misuse (a call on a freed handle, a
// second free, a keyring passed as a cache) is CACHEKIT_E_MISUSE instead of a crash. Freed headers
// wait in a bounded quarantine before going back to malloc, so a recently freed handle is still
// memory the check may read. What stays undefined: a handle freed longer ago (its memory may hold
// anything, even a new handle of the same type), a pointer the library never handed out, and a
// call that races the free of its handle.

/// A Swift type handed to C as a handle; each has its own magic.
protocol HandleObject: AnyObject {
    static var handleMagic: UInt64 { get }
}

extension CacheConfig: HandleObject { static var handleMagic: UInt64 { 0x636b_636f_6e66_6967 } }  // "ckconfig"
extension Cache: HandleObject { static var handleMagic: UInt64 { 0x636b_6361_6368_6521 } }  // "ckcache!"
extension Keyring: HandleObject { static var handleMagic: UInt64 { 0x636b_6b65_7972_6e67 } }  // "ckkeyrng"
extension MessagePackWriter: HandleObject { static var handleMagic: UInt64 { 0x636b_6d70_7772_6974 } }  // "ckmpwrit"
extension MessagePackReader: HandleObject { static var handleMagic: UInt64 { 0x636b_6d70_7265_6164 } }  // "ckmpread"

private struct HandleHeader {
    var magic: UInt64
    let object: UnsafeMutableRawPointer
}

/// What a freed header's magic becomes.
private let freedMagic: UInt64 = 0x636b_6672_6565_6421  // "ckfreed!"

/// Headers freed most recently, oldest first; past `capacity` the oldest goes back to malloc.
private final class HandleQuarantine: Sendable {
    static let capacity = 4096
    private let headers = Locked<[UInt]>([])  // addresses: raw pointers are not Sendable

    func keep(_ header: UnsafeMutableRawPointer) {
        let released: UInt? = headers.withLock { ring in
            if ring.capacity < Self.capacity { ring.reserveCapacity(Self.capacity) }
            ring.append(UInt(bitPattern: header))
            return ring.count > Self.capacity ? ring.removeFirst() : nil
        }
        if let released { free(UnsafeMutableRawPointer(bitPattern: released)) }
    }
}

private let quarantine = HandleQuarantine()

/// Hands a new handle to the caller's `out`.
func handOut<T: HandleObject>(_ object: T, to out: UnsafeMutablePointer<OpaquePointer?>) throws(CachekitError) {
    guard let raw = malloc(MemoryLayout<HandleHeader>.stride) else {
        throw CachekitError(.outOfMemory, "no memory for a \(T.self) handle")
    }
    raw.bindMemory(to: HandleHeader.self, capacity: 1)
        .initialize(to: HandleHeader(magic: T.handleMagic, object: Unmanaged.passRetained(object).toOpaque()))
    out.pointee = OpaquePointer(raw)
}

/// The live header behind a handle of type T (NULL is `.nullPointer`, anything else `.misuse`).
@inline(__always)
private func liveHeader<T: HandleObject>(_ handle: OpaquePointer?, _: T.Type, _ name: StaticString) throws(CachekitError) -> UnsafeMutablePointer<HandleHeader> {
    let header = UnsafeMutablePointer<HandleHeader>(try required(handle, name))
    let magic = header.pointee.magic
    guard magic == T.handleMagic else {
        throw CachekitError(.misuse, magic == freedMagic ? "\(name) was already freed" : "\(name) is not a \(T.self) handle")
    }
    return header
}

/// The object behind a handle the caller passed in.
@inline(__always)
func object<T: HandleObject>(_ handle: OpaquePointer?, as type: T.Type, _ name: StaticString) throws(CachekitError) -> T {
    Unmanaged<T>.fromOpaque(try liveHeader(handle, type, name).pointee.object).takeUnretainedValue()
}

/// Runs `body` with the object borrowed from its handle: no reference-count traffic on a shared
/// object, which two threads would otherwise bounce between their cores on every call.
@inline(__always)
func withObject<T: HandleObject>(_ handle: OpaquePointer?, as type: T.Type, _ name: StaticString,
                                 _ body: (T) throws(CachekitError) -> Status) throws(CachekitError) -> Status {
    let raw = try liveHeader(handle, type, name).pointee.object
    var outcome: Result<Status, CachekitError> = .success(.ok)
    Unmanaged<T>.fromOpaque(raw)._withUnsafeGuaranteedRef { object in
        do throws(CachekitError) { outcome = .success(try body(object)) } catch { outcome = .failure(error) }
    }
    return try outcome.get()
}

/// Releases a handle; NULL is a no-op, and so is a handle already freed or of another type
/// (its message is recorded for cachekit_last_error_message).
func releaseHandle<T: HandleObject>(_ handle: OpaquePointer?, as type: T.Type, _ name: StaticString) {
    guard handle != nil else { return }
    let header: UnsafeMutablePointer<HandleHeader>
    do throws(CachekitError) { header = try liveHeader(handle, type, name) } catch {
        recordError(error)
        return
    }
    let object = header.pointee.object
    header.pointee.magic = freedMagic
    Unmanaged<T>.fromOpaque(object).release()
    quarantine.keep(UnsafeMutableRawPointer(header))
}
