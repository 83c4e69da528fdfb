import CachekitCore
import Foundation
import Glibc
import Synchronization
import Testing
@testable import CachekitRedis

@Suite struct ConnectionPoolTests {
    @Test func opensLazilyAndReusesTheMostRecentlyReturnedFirst() throws {
        let factory = FakeFactory()
        let pool = factory.pool(size: 4)
        #expect(factory.made.isEmpty)
        let deadline = Deadline.after(milliseconds: 1000)
        let (first, firstReused) = try pool.acquire(waitUntil: deadline)
        let (second, _) = try pool.acquire(waitUntil: deadline)
        #expect(!firstReused)
        #expect(factory.made.count == 2)
        pool.release(first)
        pool.release(second)
        let (again, reused) = try pool.acquire(waitUntil: deadline)
        #expect(reused)
        #expect(again === second)
        pool.release(again)
        let snapshot = pool.snapshot
        #expect(snapshot.opened == 2)
        #expect(snapshot.idle == 2)
        #expect(snapshot.inUse == 0)
        #expect(snapshot.waits == 0)
    }

    @Test func aCallerThatFindsAllBusyWaitsAndIsWokenByARelease() throws {
        let factory = FakeFactory()
        let pool = factory.pool(size: 1)
        let (held, _) = try pool.acquire(waitUntil: Deadline.after(milliseconds: 1000))
        let releaser = Thread {
            usleep(100_000)
            pool.release(held)
        }
        releaser.start()
        let start = MonotonicClock.preciseNanoseconds()
        let (got, reused) = try pool.acquire(waitUntil: Deadline.after(milliseconds: 5000))
        let waited = MonotonicClock.preciseNanoseconds() - start
        #expect(got === held)
        #expect(reused)
        #expect(waited >= 80_000_000)
        #expect(waited < 4_000_000_000)
        pool.release(got)
        let snapshot = pool.snapshot
        #expect(snapshot.waits == 1)
        #expect(snapshot.timeouts == 0)
        #expect(snapshot.waitNanoseconds >= 80_000_000)
        #expect(factory.made.count == 1)
    }

    @Test func aWaitThatOutlastsItsDeadlineIsAPoolTimeoutNotABackendFailure() throws {
        let (pool, checkedOut) = try FakeFactory().pool(size: 2, checkedOut: 2)
        let (a, b) = (checkedOut[0], checkedOut[1])
        let start = MonotonicClock.preciseNanoseconds()
        #expect(thrown { _ = try pool.acquire(waitUntil: Deadline.after(milliseconds: 60)) }?.status == .poolTimeout)
        let waited = MonotonicClock.preciseNanoseconds() - start
        #expect(waited >= 55_000_000)
        #expect(waited < 2_000_000_000)
        let snapshot = pool.snapshot
        #expect(snapshot.timeouts == 1)
        #expect(snapshot.waits == 1)
        #expect(snapshot.inUse == 2)
        #expect(!CircuitBreaker.counts(CacheKitError(.poolTimeout, "x")))
        pool.release(a)
        pool.release(b)
    }

    @Test func aConnectionNotReusableOnReturnIsClosedAndItsSlotGoesToAWaiter() throws {
        let factory = FakeFactory()
        let pool = factory.pool(size: 1)
        let (broken, _) = try pool.acquire(waitUntil: Deadline.after(milliseconds: 1000))
        broken.breakStream()
        let releaser = Thread {
            usleep(50_000)
            pool.release(broken)
        }
        releaser.start()
        let (next, reused) = try pool.acquire(waitUntil: Deadline.after(milliseconds: 5000))
        #expect(!reused)
        #expect(next !== broken)
        #expect(broken.wasClosed)
        pool.release(next)
        let snapshot = pool.snapshot
        #expect(snapshot.closed == 1)
        #expect(snapshot.opened == 2)
        #expect(snapshot.idle == 1)
    }

    @Test func aFailedConnectFreesItsSlot() throws {
        let factory = FakeFactory()
        let pool = factory.pool(size: 1)
        factory.failNext(1)
        #expect(thrown { _ = try pool.acquire(waitUntil: Deadline.after(milliseconds: 100)) }?.status == .backendUnavailable)
        let (connection, _) = try pool.acquire(waitUntil: Deadline.after(milliseconds: 100))
        pool.release(connection)
        #expect(pool.snapshot.opened == 1)
    }

    @Test func freshSkipsIdleConnectionsAndReplacesTheOldestWhenFull() throws {
        let (pool, checkedOut) = try FakeFactory().pool(size: 2, checkedOut: 2)
        let (a, b) = (checkedOut[0], checkedOut[1])
        let deadline = Deadline.after(milliseconds: 1000)
        pool.release(a)
        pool.release(b)
        let (fresh, reused) = try pool.acquire(waitUntil: deadline, fresh: true)
        #expect(!reused)
        #expect(fresh !== a && fresh !== b)
        #expect(a.wasClosed)
        #expect(!b.wasClosed)
        pool.release(fresh)
        #expect(pool.snapshot.idle == 2)
    }

    @Test func closeClosesIdleConnectionsNowAndBusyOnesOnReturn() throws {
        let (pool, checkedOut) = try FakeFactory().pool(size: 2, checkedOut: 2)
        let (idle, busy) = (checkedOut[0], checkedOut[1])
        let deadline = Deadline.after(milliseconds: 1000)
        pool.release(idle)
        pool.close()
        #expect(idle.wasClosed)
        #expect(!busy.wasClosed)
        pool.release(busy)
        #expect(busy.wasClosed)
        #expect(thrown { _ = try pool.acquire(waitUntil: deadline) }?.status == .backendUnavailable)
    }

    @Test func sixtyFourThreadsOnEightConnectionsAllGetOneAndNeverMoreThanEightAreInUse() {
        let factory = FakeFactory()
        let pool = factory.pool(size: 8)
        let inUse = Atomic<Int>(0)
        let peak = Atomic<Int>(0)
        let failures = Atomic<Int>(0)
        let rounds = 100
        onThreads(64) { _ in
            for _ in 0..<rounds {
                do {
                    let (connection, _) = try pool.acquire(waitUntil: Deadline.after(milliseconds: 30_000))
                    let now = inUse.add(1, ordering: .relaxed).newValue
                    peak.max(now, ordering: .relaxed)
                    usleep(50)
                    inUse.subtract(1, ordering: .relaxed)
                    pool.release(connection)
                } catch {
                    failures.add(1, ordering: .relaxed)
                }
            }
        }
        let snapshot = pool.snapshot
        #expect(failures.load(ordering: .relaxed) == 0)
        #expect(snapshot.timeouts == 0)
        #expect(peak.load(ordering: .relaxed) <= 8)
        #expect(snapshot.peakInUse <= 8)
        #expect(snapshot.opened <= 8)
        #expect(snapshot.inUse == 0)
        #expect(snapshot.waits > 0)
        #expect(factory.made.count == snapshot.opened)
    }

    /// The child's exit status says what it saw: 0 when every check held, else the first that failed.
    @Test func aForkedChildAbandonsInheritedConnectionsAndOpensItsOwn() throws {
        let factory = FakeFactory()
        let (pool, checkedOut) = try factory.pool(size: 4, checkedOut: 3)
        let (idleA, idleB, held) = (checkedOut[0], checkedOut[1], checkedOut[2])
        pool.release(idleA)
        pool.release(idleB)

        let child = fork()
        if child == 0 {
            alarm(20)  // a child stuck on an inherited lock dies of SIGALRM instead of hanging the suite
            var code: Int32 = 0
            func check(_ ok: Bool, _ failure: Int32) { if code == 0, !ok { code = failure } }
            let fresh = try? pool.acquire(waitUntil: Deadline.after(milliseconds: 1000))
            check(fresh != nil, 10)
            check(fresh?.reused == false, 11)
            check(fresh.map { $0.connection !== idleA && $0.connection !== idleB && $0.connection !== held } ?? false, 12)
            check(idleA.wasAbandoned && idleB.wasAbandoned, 13)
            check(!idleA.wasClosed && !idleB.wasClosed, 14)
            pool.release(held)  // the forking thread's own checkout, opened by the parent
            check(held.wasAbandoned && !held.wasClosed, 15)
            if let fresh { pool.release(fresh.connection) }
            let snapshot = pool.snapshot
            check(snapshot.abandoned == 3, 16)
            check(snapshot.opened == 1, 17)
            check(snapshot.idle == 1 && snapshot.inUse == 0, 18)
            _exit(code)
        }
        #expect(child > 0)
        var status: Int32 = 0
        #expect(waitpid(child, &status, 0) == child)
        let exited = status & 0x7f == 0
        #expect(exited, "child died of signal \(status & 0x7f)")
        #expect((status >> 8) & 0xff == 0, "child check \((status >> 8) & 0xff) failed")

        // The parent's connections are untouched and still its own.
        #expect(!idleA.wasAbandoned && !idleA.wasClosed && !held.wasAbandoned)
        pool.release(held)
        let snapshot = pool.snapshot
        #expect(snapshot.idle == 3)
        #expect(snapshot.abandoned == 0)
        #expect(factory.made.count == 3)
    }
}
