import Glibc
import Synchronization

/// The process an object's state belongs to, and the one-time reset of that state in a child
/// after fork(): the first caller in the child runs `reset` while any other thread of the child
/// waits for it, so the reset happens once and nothing uses half-reset state.
struct ProcessOwner: ~Copyable {
    /// getpid() of the owner; the negated pid while a child is resetting.
    private let owner = Atomic<pid_t>(ProcessIdentity.current)

    init() {}

    func resetIfForked(_ reset: () -> Void) {
        let me = ProcessIdentity.current
        while true {
            let current = owner.load(ordering: .acquiring)
            if current == me { return }
            if current == -me { sched_yield(); continue }  // another thread of this process is resetting
            // Any other value is a parent's pid (or a parent's reset caught mid-way by the fork).
            guard owner.compareExchange(expected: current, desired: -me, ordering: .acquiringAndReleasing).exchanged else { continue }
            reset()
            owner.store(me, ordering: .releasing)
            return
        }
    }
}
