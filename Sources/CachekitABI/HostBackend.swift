import CachekitCore
import CCachekitHeader

// cachekit_cache_new_with_backend: a cache whose second tier is the host's callbacks
// (HostL2Store in the core). A callback is foreign code: its statuses are checked, its value
// is copied through a checked sink handle, and nothing it returns can trap the library.

/// Where one get callback puts its value: a handle, so a put after the callback returned is
/// CACHEKIT_E_MISUSE (the freed-handle check) rather than a write into freed memory.
final class HostValueSink: HandleObject, @unchecked Sendable {  // state is behind its Locked
    static var handleMagic: UInt64 { 0x636b_6876_616c_7565 }  // "ckhvalue"

    struct State {
        var value: HostValue?
        var failure: CachekitError?
    }

    let maxBytes: Int
    let state = Locked(State())

    init(maxBytes: Int) { self.maxBytes = maxBytes }
}

/// The host's callbacks as the core's `HostBackend`.
final class CallbackHostBackend: HostBackend, @unchecked Sendable {  // the C struct is immutable; the host makes its callbacks thread-safe
    typealias Get = @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<UInt8>?, Int, OpaquePointer?) -> Int32
    typealias Set = @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<UInt8>?, Int, UnsafePointer<UInt8>?, Int, Int64) -> Int32
    typealias KeyCall = @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<UInt8>?, Int) -> Int32

    private let userdata: UnsafeMutableRawPointer?
    private let getCall: Get
    private let setCall: Set
    private let deleteCall: KeyCall
    private let existsCall: KeyCall
    private let releaseCall: (@convention(c) (UnsafeMutableRawPointer?) -> Void)?
    private let maxValueBytes: Int
    /// Set once the cache is made: a failed cachekit_cache_new_with_backend never calls release.
    let owned = Locked(false)

    init(_ backend: cachekit_host_backend, maxValueBytes: Int) throws(CachekitError) {
        guard backend.version == UInt32(CACHEKIT_HOST_BACKEND_VERSION) else {
            throw CachekitError(.invalidArgument, "backend version \(backend.version) is unknown (this library has \(CACHEKIT_HOST_BACKEND_VERSION))")
        }
        userdata = backend.userdata
        getCall = try required(backend.get, "backend get")
        setCall = try required(backend.set, "backend set")
        deleteCall = try required(backend.del, "backend del")
        existsCall = try required(backend.exists, "backend exists")
        releaseCall = backend.release
        self.maxValueBytes = maxValueBytes
    }

    deinit {
        if owned.withLock({ $0 }) { releaseCall?(userdata) }
    }

    func get(_ key: [UInt8]) throws(CachekitError) -> HostValue? {
        let sink = HostValueSink(maxBytes: maxValueBytes)
        var handle: OpaquePointer?
        try handOut(sink, to: &handle)
        let status = key.withUnsafeBufferPointer { getCall(userdata, $0.baseAddress, $0.count, handle) }
        releaseHandle(handle, as: HostValueSink.self, "value sink")
        guard try Self.found(status, "get") else { return nil }
        let state = sink.state.withLock { $0 }
        if let failure = state.failure {
            throw CachekitError(.backendError, "the host backend's get handed over an unusable value: \(failure.message)")
        }
        guard let value = state.value else {
            throw CachekitError(.backendError, "the host backend's get returned CACHEKIT_OK without putting a value")
        }
        return value
    }

    func set(_ key: [UInt8], _ value: UnsafeRawBufferPointer, ttlSeconds: Int) throws(CachekitError) {
        let status = key.withUnsafeBufferPointer { keyBytes in
            setCall(userdata, keyBytes.baseAddress, keyBytes.count,
                    value.baseAddress?.assumingMemoryBound(to: UInt8.self), value.count, Int64(ttlSeconds))
        }
        guard try Self.found(status, "set") else {
            throw CachekitError(.backendError, "the host backend's set returned CACHEKIT_MISS")
        }
    }

    func delete(_ key: [UInt8]) throws(CachekitError) -> Bool {
        try Self.found(key.withUnsafeBufferPointer { deleteCall(userdata, $0.baseAddress, $0.count) }, "del")
    }

    func exists(_ key: [UInt8]) throws(CachekitError) -> Bool {
        try Self.found(key.withUnsafeBufferPointer { existsCall(userdata, $0.baseAddress, $0.count) }, "exists")
    }

    /// CACHEKIT_OK is true, CACHEKIT_MISS false; anything else is the host's failure.
    private static func found(_ status: Int32, _ operation: StaticString) throws(CachekitError) -> Bool {
        switch status {
        case Status.ok.rawValue: return true
        case Status.miss.rawValue: return false
        case -79 ... -60:  // the backend family keeps its meaning (unavailable, timeout, ...)
            throw CachekitError(Status(rawValue: status), "the host backend's \(operation) failed (\(status))")
        default:
            throw CachekitError(.backendError, "the host backend's \(operation) returned \(status), not CACHEKIT_OK, CACHEKIT_MISS or a backend status")
        }
    }
}

/// Exported to C as `cachekit_host_value_put`.
@_cdecl("cachekit_host_value_put") @implementation
public func cachekit_host_value_put(_ out: OpaquePointer?, _ data: UnsafePointer<UInt8>?, _ dataLength: Int,
                                    _ remainingMilliseconds: Int64) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        let sink = try object(out, as: HostValueSink.self, "out")
        do throws(CachekitError) {
            let count = try size(dataLength, "data_len")
            guard count <= sink.maxBytes else {
                throw CachekitError(.valueTooLarge, "the value is \(count) bytes, over max_value_size (\(sink.maxBytes))")
            }
            let bytes = try inputBytes(data, count, "data")
            let lifetime: HostValue.Lifetime
            switch remainingMilliseconds {
            case 0...: lifetime = .milliseconds(remainingMilliseconds)
            case CACHEKIT_HOST_TTL_NONE: lifetime = .noExpiry
            case CACHEKIT_HOST_TTL_NOT_FOR_L1: lifetime = .notForL1
            case CACHEKIT_HOST_TTL_UNKNOWN: lifetime = .unknown
            default: throw CachekitError(.invalidArgument, "remaining_ms \(remainingMilliseconds) is below CACHEKIT_HOST_TTL_UNKNOWN")
            }
            let value = HostValue(bytes: Array(bytes), lifetime: lifetime)
            sink.state.withLock { $0 = .init(value: value, failure: nil) }
        } catch {
            sink.state.withLock { $0 = .init(value: nil, failure: error) }
            throw error
        }
        return .ok
    }
}

/// Exported to C as `cachekit_cache_new_with_backend`.
@_cdecl("cachekit_cache_new_with_backend") @implementation
public func cachekit_cache_new_with_backend(_ config: OpaquePointer?, _ backend: UnsafePointer<cachekit_host_backend>?,
                                            _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        let out = try required(out, "out")
        let description = try required(backend, "backend").pointee
        let source: CacheConfig
        if let config {
            source = try object(config, as: CacheConfig.self, "config")
        } else {
            source = CacheConfig()
            try source.loadEnvironment()
        }
        let host = try CallbackHostBackend(description, maxValueBytes: source.maxValueSize)
        let cache = try Cache(config: source, makeL2: { stats in
            HostL2Store(backend: host, defaultTTLSeconds: source.effectiveDefaultTTLSeconds, stats: stats)
        })
        try handOut(cache, to: out)
        host.owned.withLock { $0 = true }
        return .ok
    }
}
