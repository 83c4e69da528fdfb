import Glibc
@testable import CachekitCore

/// An in-memory second tier for the cache's tier tests: a map of stored bytes with a remaining
/// lifetime each, tracking sets, published messages, and a switch that makes every call fail
/// with a chosen backend status (as a down or slow Redis does).
final class FakeL2Store: L2Store, @unchecked Sendable {  // all state behind `state`
    /// Stored bytes in their own allocation, kept alive by the StoredValue handed out.
    final class Bytes {
        let buffer: UnsafeMutableRawBufferPointer
        init(_ bytes: UnsafeRawBufferPointer) {
            buffer = .allocate(byteCount: max(bytes.count, 1), alignment: 1)
            if let base = bytes.baseAddress, let target = buffer.baseAddress {
                target.copyMemory(from: base, byteCount: bytes.count)
            }
            count = bytes.count
        }
        let count: Int
        var view: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: buffer.baseAddress, count: count) }
        deinit { buffer.deallocate() }
    }

    struct State {
        var values: [[UInt8]: (bytes: Bytes, ttlMilliseconds: Int64)] = [:]
        var sets: [[UInt8]: Set<[UInt8]>] = [:]
        var published: [(channel: [UInt8], message: [UInt8])] = []
        var failure: Status?
        var calls: [String] = []
        /// Fill locks: lock key -> token (FakeL2Store+Coherence.swift).
        var locks: [[UInt8]: [UInt8]] = [:]
        /// Runs at every lock attempt, before it (a test's "other process").
        var onLockAttempt: (@Sendable (inout State) -> Void)?
        var expired: [([UInt8], Int)] = []
    }

    let state = Locked(State())
    var redactedDescription: String { "fake L2" }

    func failing(with status: Status?) { state.withLock { $0.failure = status } }
    func remaining(_ key: [UInt8], milliseconds: Int64) {
        state.withLock { $0.values[key]?.ttlMilliseconds = milliseconds }
    }
    func stored(_ key: [UInt8]) -> [UInt8]? { state.withLock { $0.values[key].map { Array($0.bytes.view) } } }
    var calls: [String] { state.withLock { $0.calls } }

    /// Records the call and throws the configured failure, if any.
    func enter(_ name: String) throws(CachekitError) {
        let failure = state.withLock { state -> Status? in
            state.calls.append(name)
            return state.failure
        }
        if let failure { throw CachekitError(failure, "fake L2 \(name) failed") }
    }

    private func value(_ key: [UInt8], withTTL: Bool) -> StoredValue? {
        state.withLock { state in
            state.values[key].map {
                StoredValue(owner: $0.bytes, bytes: $0.bytes.view, ttlMilliseconds: withTTL ? $0.ttlMilliseconds : nil)
            }
        }
    }

    func get(_ key: [UInt8]) throws(CachekitError) -> StoredValue? {
        try enter("get")
        return value(key, withTTL: false)
    }

    func getWithTTL(_ key: [UInt8]) throws(CachekitError) -> StoredValue? {
        try enter("getWithTTL")
        return value(key, withTTL: true)
    }

    func getMany(_ keys: [[UInt8]], withTTL: Bool) throws(CachekitError) -> [StoredValue?] {
        try enter("getMany")
        return keys.map { value($0, withTTL: withTTL) }
    }

    func set(_ key: [UInt8], _ value: UnsafeRawBufferPointer, ttlSeconds: Int) throws(CachekitError) {
        try enter("set")
        let bytes = Bytes(value)
        state.withLock { $0.values[key] = (bytes, ttlSeconds > 0 ? Int64(ttlSeconds) * 1000 : -1) }
    }

    func set(_ key: [UInt8], _ value: UnsafeRawBufferPointer, ttlSeconds: Int,
             tracking member: UnsafeRawBufferPointer, in set: [UInt8], setTTLSeconds: Int) throws(CachekitError) {
        try enter("setTracked")
        let bytes = Bytes(value)
        state.withLock {
            $0.values[key] = (bytes, ttlSeconds > 0 ? Int64(ttlSeconds) * 1000 : -1)
            $0.sets[set, default: []].insert(Array(member))
        }
    }

    func delete(_ keys: [[UInt8]]) throws(CachekitError) -> Int {
        try enter("delete")
        return state.withLock { state in keys.filter { state.values.removeValue(forKey: $0) != nil }.count }
    }

    func exists(_ key: [UInt8]) throws(CachekitError) -> Bool {
        try enter("exists")
        return state.withLock { $0.values[key] != nil }
    }

    func deleteAll(withPrefix prefix: [UInt8]) throws(CachekitError) -> Int {
        try enter("deleteAll")
        return state.withLock { state in
            let doomed = state.values.keys.filter { $0.starts(with: prefix) }
            for key in doomed { state.values[key] = nil }
            return doomed.count
        }
    }

    func track(set: [UInt8], member: UnsafeRawBufferPointer, ttlSeconds: Int) throws(CachekitError) {
        try enter("track")
        state.withLock { _ = $0.sets[set, default: []].insert(Array(member)) }
    }

    func drain(set: [UInt8], keyPrefix: [UInt8], popped: ([UInt8]) -> Void) throws(CachekitError) -> Bool {
        try enter("drain")
        let members = state.withLock { state -> Set<[UInt8]> in
            let members = state.sets.removeValue(forKey: set) ?? []
            for member in members { state.values[keyPrefix + member] = nil }
            return members
        }
        for member in members { popped(member) }
        return true
    }

    func unlink(_ keys: [[UInt8]]) throws(CachekitError) -> Int {
        try enter("unlink")
        return state.withLock { state in keys.filter { state.values.removeValue(forKey: $0) != nil }.count }
    }

    func publish(channel: [UInt8], message: [UInt8]) throws(CachekitError) -> Int {
        try enter("publish")
        state.withLock { $0.published.append((channel, message)) }
        return 1
    }

    func ping() throws(CachekitError) -> Int {
        try enter("ping")
        return 1000
    }
}
