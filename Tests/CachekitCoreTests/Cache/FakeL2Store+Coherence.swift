@testable import CachekitCore

/// The fill lock's and sliding TTL's commands over the fake's state: a lock is a token under
/// its key, taken only when absent, deleted only by its own token.
extension FakeL2Store: CoherentL2Store {
    func acquireLock(_ key: [UInt8], token: [UInt8], milliseconds: Int) throws(CachekitError) -> Bool {
        try enter("acquireLock")
        return state.withLock { state in
            state.onLockAttempt?(&state)
            guard state.locks[key] == nil else { return false }
            state.locks[key] = token
            return true
        }
    }

    func releaseLock(_ key: [UInt8], token: [UInt8]) throws(CachekitError) -> Bool {
        try enter("releaseLock")
        return state.withLock { state in
            guard state.locks[key] == token else { return false }
            state.locks[key] = nil
            return true
        }
    }

    func expire(_ key: [UInt8], seconds: Int) throws(CachekitError) -> Bool {
        try enter("expire")
        return state.withLock { state in
            state.expired.append((key, seconds))
            guard state.values[key] != nil else { return false }
            state.values[key]?.ttlMilliseconds = Int64(seconds) * 1000
            return true
        }
    }

    /// Stores `bytes` under `key` as another process would, without a call record.
    func put(_ key: [UInt8], _ bytes: [UInt8], ttlMilliseconds: Int64 = 60_000) {
        let stored = bytes.withUnsafeBytes { Bytes($0) }
        state.withLock { $0.values[key] = (stored, ttlMilliseconds) }
    }

    func lockHolder(_ key: [UInt8]) -> [UInt8]? { state.withLock { $0.locks[key] } }
}
