import CPthreadShim
import Synchronization
import Testing
@testable import ThreadKill
import ThreadKillTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// The extremes every public API that takes a `Duration` must survive: none
/// of them may trap, hang or silently do something else than documented.
private let zero: Duration = .zero
private let oneNanosecond: Duration = .nanoseconds(1)
private let forever: Duration = .seconds(Int64.max)
private let negative: Duration = .nanoseconds(-1)


/// Runs `body` on a killable thread and returns what it returned or threw.
private func onThread<T: Sendable>(_ body: @escaping @Sendable (KillContext) throws -> T) throws -> Outcome<T> {
    try KillableThread(name: "extremes", body).joinOrFail()
}

/// Starts `body` on a thread, waits until it is inside its wait (by its
/// published state), stops it, and returns how it ended.
private func stoppedWhileWaiting(_ body: @escaping @Sendable (KillContext) throws -> Void) throws -> Outcome<Void> {
    let entered = Latch()
    let thread = try KillableThread(name: "extremes") { ctx in
        entered.open()
        try body(ctx)
    }
    entered.wait()
    try thread.requestStop()
    return try thread.joinOrFail()
}

private func isStopped<T>(_ outcome: Outcome<T>) -> Bool {
    if outcome.report?.reason == .stopRequested { return true }
    return false
}

private func refusedAsInvalidDuration<T>(_ outcome: Outcome<T>) -> Bool {
    if case .threw(let error as ThreadKillError) = outcome { return error.code == .invalidDuration }
    return false
}

@Suite("Durations at their extremes: .zero, 1 ns, .seconds(Int64.max), negative")
struct DurationExtremesTests {
    @Test("ctx.sleep(for:): returns at once for 0 and 1 ns, sleeps until stopped for Int64.max s, refuses negative", .timeLimit(.hang))
    func sleepExtremes() throws {
        for d in [zero, oneNanosecond] { #expect(try onThread { ctx in try ctx.sleep(for: d) }.value != nil) }
        #expect(isStopped(try stoppedWhileWaiting { ctx in try ctx.sleep(for: forever) }))
        #expect(refusedAsInvalidDuration(try onThread { ctx in try ctx.sleep(for: negative) }))
    }

    @Test("ctx.wait(on:until:timeout:): nil at once for 0 and 1 ns, waits until stopped for Int64.max s, refuses negative", .timeLimit(.hang))
    func monitorWait() throws {
        let never = Monitor(false)
        for d in [zero, oneNanosecond] {
            let outcome = try onThread { ctx -> Bool in try ctx.wait(on: never, until: { $0 }, timeout: d) { _ in true } == nil }
            #expect(outcome.value == true)
        }
        #expect(isStopped(try stoppedWhileWaiting { ctx in _ = try ctx.wait(on: never, until: { $0 }, timeout: forever) { _ in } }))
        #expect(refusedAsInvalidDuration(try onThread { ctx in try ctx.wait(on: never, until: { $0 }, timeout: negative) { _ in } }))
    }

    @Test("ctx.poll(timeout:) and ctx.cancellablePoll(timeout:): 0 ready at once for 0 and 1 ns, wait until stopped for Int64.max s, refuse negative",
          .timeLimit(.hang),
          .disabled(under: .thread, because: "TSan defers the signal that wakes a blocked syscall: Docs/Sanitizers.md"))
    func polls() throws {
        let pipe = Pipe()
        let fd = pipe.read
        for d in [zero, oneNanosecond] {
            #expect(try onThread { ctx -> Int in
                var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
                return try ctx.poll(&fds, timeout: d)
            }.value == 0)
            #expect(try onThread { ctx -> Int in
                var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
                return try ctx.cancellablePoll(&fds, timeout: d)
            }.value == 0)
        }
        #expect(isStopped(try stoppedWhileWaiting { ctx in
            var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
            _ = try ctx.poll(&fds, timeout: forever)
        }))
        #expect(isStopped(try stoppedWhileWaiting { ctx in
            var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
            _ = try ctx.cancellablePoll(&fds, timeout: forever)
        }))
        #expect(refusedAsInvalidDuration(try onThread { ctx in
            var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
            _ = try ctx.poll(&fds, timeout: negative)
        }))
        #expect(refusedAsInvalidDuration(try onThread { ctx in
            var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
            _ = try ctx.cancellablePoll(&fds, timeout: negative)
        }))
    }

    @Test("ctx.cancellableSleep(for:): returns for 0 and 1 ns, sleeps until stopped for Int64.max s, refuses negative",
          .timeLimit(.hang),
          .disabled(under: .thread, because: "TSan defers the signal that wakes a blocked syscall: Docs/Sanitizers.md"))
    func cancellableSleep() throws {
        for d in [zero, oneNanosecond] { #expect(try onThread { ctx in try ctx.cancellableSleep(for: d) }.value != nil) }
        #expect(isStopped(try stoppedWhileWaiting { ctx in try ctx.cancellableSleep(for: forever) }))
        #expect(refusedAsInvalidDuration(try onThread { ctx in try ctx.cancellableSleep(for: negative) }))
    }

    @Test("join(timeout:) on KillableThread and ThreadRef: 0 and 1 ns return at once, Int64.max s waits for the end, negative is refused", .timeLimit(.hang))
    func joins() throws {
        let release = Latch()
        let thread = try KillableThread(name: "extremes") { _ in release.wait() }
        for d in [zero, oneNanosecond] {
            #expect(try thread.join(timeout: d) == nil)
            #expect(try thread.ref.join(timeout: d) == false)
        }
        expectRefusal(.invalidDuration) { _ = try thread.join(timeout: negative) }
        expectRefusal(.invalidDuration) { _ = try thread.ref.join(timeout: negative) }
        release.open()
        #expect(try thread.ref.join(timeout: forever) == true)
        #expect(try thread.join(timeout: forever)?.value != nil)
    }

    @Test("stop(grace:): 0 and 1 ns return at once, Int64.max s climbs any ladder without overflow, negative is refused", .timeLimit(.hang))
    func stops() throws {
        for d in [zero, oneNanosecond] {
            let thread = try KillableThread(name: "extremes") { ctx in while true { try ctx.sleep(for: .seconds(3600)) } }
            let started = ContinuousClock.now
            _ = try thread.stop(grace: d)
            #expect(ContinuousClock.now - started < .seconds(10))
            _ = try thread.stop(grace: .seconds(20))
            _ = try thread.joinOrFail()
        }
        for ladder in [StopLadder.default, StopLadder([.interrupt]), StopLadder([.requestStop, .cancel], shares: [1e300, 1])] {
            let thread = try KillableThread(name: "extremes") { ctx in while true { try ctx.sleep(for: .seconds(3600)) } }
            let result = try thread.stop(grace: forever, ladder: ladder)
            #expect(result.report.stopped, "\(result.report)")
            let refTarget = try KillableThread(name: "extremes") { ctx in while true { try ctx.sleep(for: .seconds(3600)) } }
            #expect(try refTarget.ref.stop(grace: forever, ladder: ladder).stopped)
        }
        let thread = try KillableThread(name: "extremes") { ctx in while true { try ctx.sleep(for: .seconds(3600)) } }
        expectRefusal(.invalidDuration) { _ = try thread.stop(grace: negative) }
        expectRefusal(.invalidDuration) { _ = try thread.ref.stop(grace: negative) }
        _ = try thread.stop(grace: .seconds(20))
    }

    @Test("withTimeout(_:grace:): a 0 or 1 ns timeout stops a sleeping body, Int64.max s returns a value and climbs without overflow, negatives are refused", .timeLimit(.hang))
    func timeouts() throws {
        for d in [zero, oneNanosecond] {
            #expect(throws: TimeoutError.self) { try withTimeout(d, grace: .seconds(20)) { ctx in try ctx.sleep(for: .seconds(3600)) } }
            #expect(throws: TimeoutError.self) { try withTimeout(.milliseconds(1), grace: d) { ctx in try ctx.sleep(for: .seconds(3600)) } }
        }
        #expect(try withTimeout(forever) { _ in 7 } == 7)
        do {
            try withTimeout(.milliseconds(1), grace: forever, ladder: StopLadder([.interrupt])) { ctx in try ctx.sleep(for: .seconds(3600)) }
        } catch let timeout as TimeoutError {
            #expect(timeout.report?.stopped == true)
        }
        expectRefusal(.invalidDuration) { try withTimeout(negative) { _ in } }
        expectRefusal(.invalidDuration) { try withTimeout(.seconds(1), grace: negative) { _ in } }
    }

    @Test("KillableThread(cpuBudget:tick:): a 0 or 1 ns budget is exceeded at once, Int64.max s never, negatives are refused; a tick below 100 µs is refused, Int64.max s is accepted",
          .timeLimit(.hang))
    func threadOptions() throws {
        for d in [zero, oneNanosecond] {
            let thread = try KillableThread(name: "budget", cpuBudget: d) { ctx in while true { try ctx.checkpoint() } }
            #expect(try thread.joinOrFail().report?.reason == .cpuBudgetExceeded)
            expectRefusal(.invalidArgument) { _ = try KillableThread(tick: d) { _ in } }
        }
        let unlimited = try KillableThread(name: "budget", cpuBudget: forever) { ctx in
            for _ in 0..<1_000 { try ctx.checkpoint() }
            return 1
        }
        #expect(try unlimited.joinOrFail().value == 1)
        #expect(try KillableThread(tick: forever) { _ in 2 }.joinOrFail().value == 2)
        expectRefusal(.invalidDuration) { _ = try KillableThread(cpuBudget: negative) { _ in } }
        expectRefusal(.invalidDuration) { _ = try KillableThread(tick: negative) { _ in } }
    }

    @Test("IsolatedProcess run/wait/terminate: 0 and 1 ns act at once, Int64.max s waits for the job, negatives are refused", .timeLimit(.hang))
    func processes() throws {
        for d in [zero, oneNanosecond] {
            let process = try IsolatedProcess.start(FixtureJob.spin, input: 0, executable: fixturePath)
            #expect(try process.wait(timeout: d) == nil)
            let outcome = try process.terminate(grace: d).outcome
            #expect(outcome == .signaled(.terminate) || outcome == .signaled(.kill), "\(outcome)")
            #expect(throws: TimeoutError.self) { try IsolatedProcess.run(FixtureJob.spin, input: 0, timeout: d, grace: d, executable: fixturePath) }
        }
        #expect(try IsolatedProcess.run(FixtureJob.double, input: 21, timeout: forever, grace: forever, executable: fixturePath) == 42)
        let process = try IsolatedProcess.start(FixtureJob.double, input: 2, executable: fixturePath)
        #expect(try process.wait(timeout: forever)?.outcome == .returned(4))
        let spinning = try IsolatedProcess.start(FixtureJob.spin, input: 0, executable: fixturePath)
        expectRefusal(.invalidDuration) { _ = try spinning.wait(timeout: negative) }
        expectRefusal(.invalidDuration) { _ = try spinning.terminate(grace: negative) }
        expectRefusal(.invalidDuration) { _ = try IsolatedProcess.run(FixtureJob.double, input: 1, timeout: negative, executable: fixturePath) }
        expectRefusal(.invalidDuration) { _ = try IsolatedProcess.run(FixtureJob.double, input: 1, timeout: .seconds(1), grace: negative, executable: fixturePath) }
        #expect(try spinning.terminate(grace: forever).outcome == .signaled(.terminate))  // spin ends on SIGTERM
    }

    @Test("process-wide settings: resendWindow 0/1 ns/Int64.max s, shutdown(grace:) and handleTerminationSignals(grace:) at every extreme, in a child process",
          .timeLimit(.hang))
    func processWide() throws {
        let (status, output) = try runFixture(["duration-extremes"])
        #expect(status == 0)
        #expect(output == """
            resendWindow 0: interrupted
            resendWindow 1 ns: interrupted
            resendWindow max: interrupted
            shutdown 0: ok
            shutdown 1 ns: ok
            shutdown max: 1 of 1 threads stopped
            shutdown negative: invalidDuration
            handleTerminationSignals negative: invalidDuration
            handleTerminationSignals max: ok

            """)
    }
}
