import Testing
import CachekitCore

@Suite struct DeadlineTests {
    @Test func remainingIsNeverNegativeAndPassedDeadlinesReportSo() {
        let past = Deadline.after(milliseconds: -5)
        #expect(past.remainingMilliseconds == 0)
        #expect(past.hasPassed)
        let future = Deadline.after(milliseconds: 10_000)
        #expect(future.remainingMilliseconds > 9_000)
        #expect(!future.hasPassed)
        #expect(past < future)
    }
}
