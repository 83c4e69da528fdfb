import CachekitCore
import Foundation
import Glibc
import Synchronization
import Testing
@testable import CachekitRedis

@Suite struct BackpressureTests {
    private func backpressure(concurrent: Int, queue: Int, timeoutMilliseconds: Int) throws -> Backpressure {
        var settings = Backpressure.Settings()
        settings.maxConcurrentRequests = concurrent
        settings.queueSize = queue
        settings.timeoutMilliseconds = timeoutMilliseconds
        return try Backpressure(settings: settings)
    }

    /// Polls `condition` for up to 5 s.
    private func eventually(_ condition: () -> Bool) -> Bool {
        for _ in 0..<500 {
            if condition() { return true }
            usleep(10_000)
        }
        return condition()
    }

    @Test func defaultsAreCachekitPys() {
        let settings = Backpressure.Settings()
        #expect(settings.maxConcurrentRequests == 100)
        #expect(settings.queueSize == 1000)
        #expect(settings.timeoutMilliseconds == 100)
    }

    @Test func beyondTheQueueACallIsShedAtOnceAndPastTheWaitItIsShedLate() throws {
        let backpressure = try self.backpressure(concurrent: 2, queue: 1, timeoutMilliseconds: 300)
        try backpressure.acquire()
        try backpressure.acquire()
        let waiterStatus = Locked<Status?>(.ok)
        let waiter = Thread {
            let status = thrown { try backpressure.acquire() }?.status
            waiterStatus.withLock { $0 = status }
        }
        waiter.start()
        #expect(eventually { backpressure.snapshot.queueDepth == 1 })
        let start = MonotonicClock.preciseNanoseconds()
        #expect(thrown { _ = try backpressure.acquire() }?.status == .backendOverloaded)
        #expect(MonotonicClock.preciseNanoseconds() - start < 100_000_000)  // the full queue sheds without waiting
        #expect(eventually { waiterStatus.withLock { $0 } == .backendOverloaded })
        let snapshot = backpressure.snapshot
        #expect(snapshot.shedQueueFull == 1)
        #expect(snapshot.shedTimeout == 1)
        #expect(snapshot.rejected == 2)
        #expect(snapshot.inFlight == 2)
        #expect(snapshot.queueDepth == 0)
        backpressure.release()
        backpressure.release()
        #expect(backpressure.snapshot.inFlight == 0)
    }

    @Test func aWaiterGetsThePermitAReleaseFrees() throws {
        let backpressure = try self.backpressure(concurrent: 1, queue: 4, timeoutMilliseconds: 5000)
        try backpressure.acquire()
        let got = Atomic<Bool>(false)
        let waiter = Thread {
            if (try? backpressure.acquire()) != nil { got.store(true, ordering: .relaxed) }
        }
        waiter.start()
        #expect(eventually { backpressure.snapshot.queueDepth == 1 })
        backpressure.release()
        #expect(eventually { got.load(ordering: .relaxed) })
        let snapshot = backpressure.snapshot
        #expect(snapshot.rejected == 0)
        #expect(snapshot.waits == 1)
        #expect(snapshot.inFlight == 1)
        backpressure.release()
    }

    @Test func inFlightNeverPassesTheBoundAndEveryCallIsAdmittedOrShed() throws {
        let backpressure = try self.backpressure(concurrent: 4, queue: 8, timeoutMilliseconds: 2)
        let inFlight = Atomic<Int>(0)
        let peak = Atomic<Int>(0)
        let admitted = Atomic<Int>(0)
        onThreads(32) { _ in
            for _ in 0..<50 {
                do {
                    try backpressure.withPermit { () throws(CacheKitError) in
                        peak.max(inFlight.add(1, ordering: .relaxed).newValue, ordering: .relaxed)
                        usleep(200)
                        inFlight.subtract(1, ordering: .relaxed)
                    }
                    admitted.add(1, ordering: .relaxed)
                } catch {}
            }
        }
        let snapshot = backpressure.snapshot
        #expect(peak.load(ordering: .relaxed) <= 4)
        #expect(admitted.load(ordering: .relaxed) + snapshot.rejected == 32 * 50)
        #expect(snapshot.rejected > 0)
        #expect(snapshot.inFlight == 0)
        #expect(snapshot.queueDepth == 0)
    }

    /// Permits held by the parent's threads at fork() never come back in the child: the child
    /// starts with none in flight instead of shedding for ever.
    @Test func aChildStartsWithNoPermitsInFlight() throws {
        var settings = Backpressure.Settings()
        settings.maxConcurrentRequests = 1
        settings.queueSize = 0
        let backpressure = try Backpressure(settings: settings)
        try backpressure.acquire()  // held across the fork, as by another thread mid-call
        #expect(throws: CacheKitError.self) { try backpressure.acquire() }
        let child = fork()
        if child == 0 {
            alarm(20)
            var code: Int32 = 0
            do { try backpressure.acquire() } catch { code = 10 }
            if code == 0, backpressure.snapshot.inFlight != 1 { code = 11 }
            if code == 0, backpressure.snapshot.shedQueueFull != 1 { code = 12 }  // counters carry over
            _exit(code)
        }
        var status: Int32 = 0
        #expect(waitpid(child, &status, 0) == child)
        #expect(status & 0x7f == 0, "child died of signal \(status & 0x7f)")
        #expect((status >> 8) & 0xff == 0, "child check \((status >> 8) & 0xff) failed")
        backpressure.release()
        #expect(backpressure.snapshot.inFlight == 0)
    }
}
