import Glibc
import Synchronization

/// Levels as Python's `logging` numbers them, so a binding passes them straight through.
public enum LogLevel: Int, Sendable, CaseIterable {
    case debug = 10, info = 20, warning = 30, error = 40
}

/// One structured event: a stable name (`cache.hit`, `l2.failure`, ...) and fields that never
/// hold a key, a value or a secret (keys appear only as `key_hash`).
public struct LogEvent: Sendable {
    public let level: LogLevel
    public let name: String
    public let fields: [(name: String, value: String)]
}

/// The process's log handler (one per process: a host has one logging system, and Python's
/// `logging` is process-wide too; each event names the cache's namespace). With no handler, an
/// event costs one relaxed load of `threshold` and a compare: nothing is formatted.
///
/// Handlers run on the thread that caused the event, outside every cache lock. `install`
/// returns only when no call of the previous handler is running on another thread, so a host
/// may free its userdata as soon as it returns; called from inside a handler it would wait for
/// itself, and refuses instead.
public enum LogHook {
    public typealias Handler = @Sendable (LogEvent) -> Void

    /// The lowest level delivered; Int.max while no handler is set.
    private static let threshold = Atomic<Int>(Int.max)

    private struct State {
        var handler: Handler?
        /// Bumped by every install, so an install waits only for calls of handlers it replaced.
        var generation = 0
        /// Calls under way now: the thread and the generation of the handler it runs.
        var calling: [(thread: pthread_t, generation: Int)] = []
    }

    private static let state = Monitor(State())

    /// Registered with the first install: a child of fork() must not wait on a lock a parent
    /// thread held inside a handler call (that thread does not exist in the child).
    private static let forkHandler: Void = { pthread_atfork(nil, nil, { LogHook.afterForkInChild() }) }()

    /// Keeps the handler when the parent's state was consistent at the fork; else removes it.
    private static func afterForkInChild() {
        var kept: Handler?
        state.reinitializeAfterFork(fresh: State(), salvage: { kept = $0.handler })
        state.withLock { $0.handler = kept }
        if kept == nil { threshold.store(Int.max, ordering: .relaxed) }
    }

    @inline(__always)
    public static func isEnabled(_ level: LogLevel) -> Bool {
        level.rawValue >= threshold.load(ordering: .relaxed)
    }

    /// Sets (or with nil removes) the handler. Returns false, changing nothing, when called from
    /// inside a handler.
    @discardableResult
    public static func install(_ handler: Handler?, minimumLevel: LogLevel) -> Bool {
        _ = forkHandler
        let me = pthread_self()
        let generation = state.withLock { state -> Int? in
            if state.calling.contains(where: { pthread_equal($0.thread, me) != 0 }) { return nil }
            state.handler = handler
            state.generation &+= 1
            threshold.store(handler == nil ? Int.max : minimumLevel.rawValue, ordering: .relaxed)
            return state.generation
        }
        guard let generation else { return false }
        // Wait out calls of replaced handlers (calls of the new one do not hold this up).
        return state.wait(until: Deadline(nanoseconds: Int64.max), { state -> Bool? in
            state.calling.contains(where: { $0.generation < generation }) ? nil : true
        }, timedOut: { _ in true })
    }

    /// Delivers `event` to the handler, if one is set and wants its level.
    public static func emit(_ event: LogEvent) {
        guard isEnabled(event.level) else { return }
        let me = pthread_self()
        let call = state.withLock { state -> (Handler, Int)? in
            guard let handler = state.handler else { return nil }
            state.calling.append((me, state.generation))
            return (handler, state.generation)
        }
        guard let (handler, generation) = call else { return }
        handler(event)
        state.withLock { state in
            if let index = state.calling.lastIndex(where: { pthread_equal($0.thread, me) != 0 && $0.generation == generation }) {
                state.calling.remove(at: index)
            }
        }
        state.broadcast()
    }
}
