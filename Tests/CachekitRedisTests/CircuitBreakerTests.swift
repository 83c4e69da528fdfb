import CachekitCore
import Testing
@testable import CachekitRedis

@Suite struct CircuitBreakerTests {
    private func breaker(_ clock: ManualClock, configure: (inout CircuitBreaker.Settings) -> Void = { _ in }) throws -> CircuitBreaker {
        var settings = CircuitBreaker.Settings()
        configure(&settings)
        return try CircuitBreaker(settings: settings, clock: { clock.now })
    }

    /// Admits and fails `count` calls.
    private func fail(_ breaker: CircuitBreaker, _ count: Int) {
        for _ in 0..<count {
            guard let admission = breaker.admit() else { return }
            breaker.recordFailure(admission)
        }
    }

    @Test func defaultsAreCachekitPys() {
        let settings = CircuitBreaker.Settings()
        #expect(settings.failureThreshold == 5)
        #expect(settings.successThreshold == 3)
        #expect(settings.recoveryTimeoutMilliseconds == 30_000)
        #expect(settings.halfOpenRequests == 3)
        #expect(settings.failureWindowMilliseconds == 60_000)
    }

    @Test func settingsThatCouldNeverCloseAreRefused() {
        var settings = CircuitBreaker.Settings()
        settings.successThreshold = 5
        #expect(thrown { _ = try settings.validate() }?.status == .invalidConfig)
        settings = CircuitBreaker.Settings()
        settings.failureThreshold = 0
        #expect(thrown { _ = try CircuitBreaker(settings: settings) }?.status == .invalidConfig)
        settings = CircuitBreaker.Settings()
        settings.recoveryTimeoutMilliseconds = 0
        #expect(thrown { _ = try settings.validate() }?.status == .invalidConfig)
        settings = CircuitBreaker.Settings()
        settings.failureThreshold = 10_001
        #expect(thrown { _ = try settings.validate() }?.status == .invalidConfig)
    }

    @Test func opensAfterThresholdFailuresWithinTheWindowAndSuccessesDoNotReset() throws {
        let clock = ManualClock()
        let breaker = try self.breaker(clock)
        fail(breaker, 4)
        if let admission = breaker.admit() { breaker.recordSuccess(admission) }
        #expect(breaker.state == .closed)
        fail(breaker, 1)
        #expect(breaker.state == .open)
        #expect(breaker.admit() == nil)
        let snapshot = breaker.snapshot
        #expect(snapshot.opened == 1)
        #expect(snapshot.failures == 5)
        #expect(snapshot.successes == 1)
        #expect(snapshot.rejected == 1)
    }

    @Test func failuresOlderThanTheWindowStopCounting() throws {
        let clock = ManualClock()
        let breaker = try self.breaker(clock)
        fail(breaker, 4)
        clock.advance(milliseconds: 60_001)
        #expect(breaker.snapshot.failuresInWindow == 0)
        fail(breaker, 4)
        #expect(breaker.state == .closed)
        fail(breaker, 1)
        #expect(breaker.state == .open)
    }

    @Test func afterTheRecoveryTimeoutHalfOpenAdmitsItsProbesAndClosesOnSuccesses() throws {
        let clock = ManualClock()
        let breaker = try self.breaker(clock)
        fail(breaker, 5)
        clock.advance(milliseconds: 29_000)
        #expect(breaker.admit() == nil)
        clock.advance(milliseconds: 1_001)
        let probes = (0..<3).compactMap { _ in breaker.admit() }
        #expect(probes.count == 3)
        #expect(breaker.state == .halfOpen)
        #expect(breaker.admit() == nil)  // the cycle's probe slots are spent
        breaker.recordSuccess(probes[0])
        breaker.recordSuccess(probes[1])
        #expect(breaker.state == .halfOpen)
        breaker.recordSuccess(probes[2])
        #expect(breaker.state == .closed)
        let snapshot = breaker.snapshot
        #expect(snapshot.opened == 1)
        #expect(snapshot.halfOpened == 1)
        #expect(snapshot.closed == 1)
        #expect(snapshot.rejected == 2)
        #expect(snapshot.failuresInWindow == 0)
    }

    @Test func aFailedProbeReopensAndAnotherCyclesLateOutcomeChangesNothing() throws {
        let clock = ManualClock()
        let breaker = try self.breaker(clock)
        let admittedWhileClosed = try #require(breaker.admit())
        fail(breaker, 5)
        clock.advance(milliseconds: 30_001)
        let firstCycleProbe = try #require(breaker.admit())
        breaker.recordFailure(admittedWhileClosed)  // admitted before the cycle: ignored
        #expect(breaker.state == .halfOpen)
        let reopening = try #require(breaker.admit())
        breaker.recordFailure(reopening)
        #expect(breaker.state == .open)
        breaker.recordFailure(firstCycleProbe)  // reported while open: ignored
        clock.advance(milliseconds: 30_001)
        let secondCycle = (0..<3).compactMap { _ in breaker.admit() }
        #expect(secondCycle.count == 3)
        breaker.recordSuccess(firstCycleProbe)
        breaker.recordSuccess(admittedWhileClosed)
        breaker.recordSuccess(secondCycle[0])
        breaker.recordSuccess(secondCycle[1])
        #expect(breaker.state == .halfOpen)  // only this cycle's probes count toward closing
        breaker.recordSuccess(secondCycle[2])
        #expect(breaker.state == .closed)
        let snapshot = breaker.snapshot
        #expect(snapshot.opened == 2)
        #expect(snapshot.halfOpened == 2)
        #expect(snapshot.failures == 6)
    }

    @Test func aSpentCycleThatNeverReportsStartsOverAfterTheRecoveryTimeout() throws {
        let clock = ManualClock()
        let breaker = try self.breaker(clock)
        fail(breaker, 5)
        clock.advance(milliseconds: 30_001)
        let lost = (0..<3).compactMap { _ in breaker.admit() }
        #expect(lost.count == 3)
        #expect(breaker.admit() == nil)
        clock.advance(milliseconds: 30_001)
        #expect(breaker.admit() != nil)
        #expect(breaker.snapshot.halfOpened == 2)
    }

    @Test func aReleasedProbeGivesItsSlotBack() throws {
        let clock = ManualClock()
        let breaker = try self.breaker(clock) { $0.halfOpenRequests = 3 }
        fail(breaker, 5)
        clock.advance(milliseconds: 30_001)
        let probes = (0..<3).compactMap { _ in breaker.admit() }
        #expect(breaker.admit() == nil)
        breaker.record(probes[0], error: CacheKitError(.poolTimeout, "waited"))  // says nothing about Redis
        #expect(breaker.state == .halfOpen)
        #expect(breaker.admit() != nil)
    }

    @Test func onlyFailuresThatSayRedisIsUnhealthyCount() {
        #expect(CircuitBreaker.counts(CacheKitError(.backendTimeout, "Redis GET timed out")))
        #expect(CircuitBreaker.counts(CacheKitError(.backendUnavailable, "Redis connect refused")))
        #expect(CircuitBreaker.counts(CacheKitError(.tls, "certificate verify failed")))
        #expect(CircuitBreaker.counts(CacheKitError(.backendError, "Redis SET: READONLY You can't write against a read only replica.")))
        #expect(CircuitBreaker.counts(CacheKitError(.backendError, "LOADING Redis is loading the dataset in memory")))
        #expect(!CircuitBreaker.counts(CacheKitError(.backendError, "Redis GET: WRONGTYPE Operation against a key holding the wrong kind of value")))
        #expect(!CircuitBreaker.counts(CacheKitError(.backendError, "Redis GET: ERR the word READONLY inside text")))
        #expect(!CircuitBreaker.counts(CacheKitError(.poolTimeout, "all busy")))
        #expect(!CircuitBreaker.counts(CacheKitError(.backendOverloaded, "shed")))
        #expect(!CircuitBreaker.counts(CacheKitError(.valueTooLarge, "too large")))
        #expect(!CircuitBreaker.counts(CacheKitError(.replyTooLarge, "reply too large")))
        #expect(!CircuitBreaker.counts(CacheKitError(.backendAuth, "WRONGPASS")))
    }

    @Test func manyThreadsRecordingAtOnceKeepTheCountsWhole() throws {
        let clock = ManualClock()
        let breaker = try self.breaker(clock) { $0.failureThreshold = 10_000 }
        onThreads(16) { index in
            for _ in 0..<500 {
                guard let admission = breaker.admit() else { continue }
                if index % 2 == 0 { breaker.recordSuccess(admission) } else { breaker.recordFailure(admission) }
            }
        }
        let snapshot = breaker.snapshot
        #expect(snapshot.successes == 4000)
        #expect(snapshot.failures == 4000)
        #expect(snapshot.state == .closed)
    }
}
