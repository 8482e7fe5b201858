import CPthreadShim
import Synchronization
import Testing
@testable import ThreadKill
import ThreadKillTestSupport
#if canImport(Glibc)
import Glibc
#endif

// Jobs of the ThreadKillFixtures program (see IsolatedProcessTests.swift).

/// Reads one byte from `fd` in an interruptible read: blocks until a kill wakes it.
private func blockInRead(_ ctx: KillContext, _ fd: Int32) throws {
    var byte: UInt8 = 0
    _ = try withUnsafeMutableBytes(of: &byte) { try ctx.read(fd, into: $0) }
}

/// Expects `result` to be a ``TaskCancelledError`` for a thread the stop
/// request ended, and returns it.
@discardableResult
private func expectStoppedByCancel<T>(_ result: Result<T, any Error>, sourceLocation: SourceLocation = #_sourceLocation) -> TaskCancelledError? {
    guard case .failure(let error) = result, let cancelled = error as? TaskCancelledError else {
        Issue.record("expected TaskCancelledError, got \(result)", sourceLocation: sourceLocation)
        return nil
    }
    #expect(cancelled.report?.stopped == true, "\(cancelled)", sourceLocation: sourceLocation)
    #expect(cancelled.report?.stepThatActed == .requestStop, "\(cancelled)", sourceLocation: sourceLocation)
    #expect(cancelled.thread?.state == .finished, "\(cancelled)", sourceLocation: sourceLocation)
    return cancelled
}

/// A value shared between a test and its threads and tasks.
private final class Shared<T: Sendable>: Sendable {
    private let state: Mutex<T>
    init(_ value: T) { state = Mutex(value) }
    var value: T { state.withLock { $0 } }
    func update(_ body: (inout T) -> Void) { state.withLock { body(&$0) } }
}

// Time limits are 5 minutes: these tests resume on Swift's cooperative pool,
// which has one thread per core (2 here); while long synchronous tests of other
// suites (the 10,000-injection test takes 30–90 s) hold both, an async test
// cannot run at all, however healthy. A real hang still fails.
@Suite("Async bridge: await killable threads and processes; cancelling the task stops them")
struct AsyncTests {
    @Test("more awaited blocked threads than the cooperative pool has threads: each is stopped by cancelling its task",
          .timeLimit(.minutes(5)),
          .disabled(under: .thread, because: "TSan defers the signal that wakes a blocked syscall: Docs/Sanitizers.md"))
    func manyMoreThanThePool() async throws {
        // The pool has one thread per core (2 on CI). If an await held a pool
        // thread, the third task would never start its thread.
        let count = max(16, 4 * sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        let pipe = Pipe()
        let readers = Shared<[Int32]>([])
        let sleepers = Shared(0)
        let tasks = (0..<count).map { i in
            Task {
                try await KillableThread.run(name: "await\(i)") { ctx -> Int in
                    if i % 2 == 0 {
                        readers.update { $0.append(CPthreadShim_gettid()) }
                        try blockInRead(ctx, pipe.read)
                    } else {
                        sleepers.update { $0 += 1 }
                        try ctx.sleep(for: .seconds(3600))
                    }
                    return i
                }
            }
        }
        await eventually("every body is blocked while every task awaits it") {
            let tids = readers.value
            return tids.count == count / 2 && sleepers.value == count - count / 2
                && tids.allSatisfy { isInSyscall(tid: $0, Int(SYS_read)) }
        }
        // The pool is still free for other work.
        #expect(await Task { 7 }.value == 7)
        for task in tasks { task.cancel() }
        for task in tasks { expectStoppedByCancel(await task.result) }
    }

    @Test("a task blocked in ctx.read returns promptly when cancelled: TaskCancelledError, the report says the stop request stopped it",
          .timeLimit(.minutes(5)),
          .disabled(under: .thread, because: "TSan defers the signal that wakes a blocked syscall: Docs/Sanitizers.md"))
    func cancelBlockedRead() async throws {
        let pipe = Pipe()
        let tid = Atomic<Int32>(0)
        let task = Task {
            try await KillableThread.run(name: "async-read") { ctx -> Int in
                tid.store(CPthreadShim_gettid(), ordering: .releasing)
                try blockInRead(ctx, pipe.read)
                return 1
            }
        }
        await eventually("blocked in read") {
            let t = tid.load(ordering: .acquiring)
            return t != 0 && isInSyscall(tid: t, Int(SYS_read))
        }
        let cancelledAt = ContinuousClock.now
        task.cancel()
        let result = await task.result
        let took = ContinuousClock.now - cancelledAt
        let cancelled = expectStoppedByCancel(result)
        // Within the first step's share of the default 1 s grace: no later step was taken.
        #expect(cancelled?.report?.stepsTaken == [.requestStop], "\(String(describing: cancelled))")
        #expect(cancelled?.description.hasPrefix("task cancelled; the thread was stopped by the stop request after ") == true)
        #expect(took < .seconds(10), "took \(took)")
    }

    @Test("the ladder climbs on a service thread: cancel() returns at once although the body outlives the stop request",
          .timeLimit(.minutes(5)),
          .disabled(under: .thread, because: "TSan defers the signal that wakes a blocked syscall: Docs/Sanitizers.md"))
    func ladderOffTheCancellingThread() async throws {
        let pipe = Pipe()
        let ref = Mutex<ThreadRef?>(nil)
        let task = Task {
            // Swallows stops; the interrupt, 40 % into the 5 s grace (2 s), ends it.
            try await KillableThread.run(name: "swallower", onCancel: .stop(grace: .seconds(5))) { ctx in
                ref.withLock { $0 = ctx.thread }
                while true {
                    do { try blockInRead(ctx, pipe.read) } catch let kill as KillError where kill.reason == .stopRequested {}
                }
            }
        }
        await eventually("started") { ref.withLock { $0 } != nil }
        let thread = try #require(ref.withLock { $0 })
        task.cancel()
        // Had the ladder run inside cancel(), the thread would have ended by now.
        #expect(thread.state != .finished)
        guard case .failure(let error as TaskCancelledError) = await task.result else {
            Issue.record("expected TaskCancelledError")
            return
        }
        #expect(error.report?.stopped == true, "\(error)")
        #expect(error.report?.stepThatActed == .interrupt, "\(error)")
        #expect((error.report?.killsSwallowed ?? 0) >= 1, "\(error)")
        #expect(thread.state == .finished)
    }

    @Test("a value comes back when the task is not cancelled; the body's own errors and kills from elsewhere come through")
    func valuesAndErrors() async throws {
        #expect(try await KillableThread.run { _ in 42 } == 42)
        let thread = try KillableThread(name: "value") { _ in "done" }
        #expect(try await thread.value == "done")
        #expect(try await thread.join().value == "done")  // again: the same outcome
        await #expect(throws: Boom(code: 5)) { try await KillableThread.run { _ -> Int in throw Boom(code: 5) } }

        let sleeper = try KillableThread(name: "stopped") { ctx in try ctx.sleep(for: .seconds(3600)) }
        try sleeper.requestStop()
        await #expect(throws: KillError.self) { try await sleeper.value }
        guard case .killed(let report) = try await sleeper.join(), report.reason == .stopRequested else {
            Issue.record("expected a kill by a stop request")
            return
        }
        #expect(report.reason == .stopRequested)
    }

    @Test("a thread that ends before the await still resumes it; ends racing the await and a cancellation resume it exactly once",
          .timeLimit(.minutes(5)))
    func endBeforeAndRacingTheAwait() async throws {
        let early = try KillableThread(name: "early") { _ in 7 }
        await eventually("ended") { early.state == .finished }
        #expect(try await early.value == 7)
        #expect(try await early.join(timeout: .zero)?.value == 7)
        #expect(try await early.ref.join(timeout: .zero) == true)

        // A body with no delivery point returns whatever happens: its value wins over a cancellation.
        for i in 0..<200 {
            let task = Task { try await KillableThread.run(name: "race") { _ in i } }
            if i % 2 == 0 { task.cancel() }
            #expect(try await task.value == i)
        }
        // With a delivery point: the value, or the stop, never a hang or a second resume.
        var stopped = 0
        for i in 0..<200 {
            let task = Task { try await KillableThread.run(name: "race") { ctx in try ctx.checkpoint(); return i } }
            task.cancel()
            switch await task.result {
            case .success(let value): #expect(value == i)
            case .failure(let error as TaskCancelledError):
                #expect(error.report?.stopped == true, "\(error)")
                stopped += 1
            case .failure(let error): Issue.record("\(error)")
            }
        }
        print("async race: \(stopped) of 200 cancelled runs ended by the stop, the rest returned first")
    }

    @Test("a task cancelled before it awaits still stops the thread", .timeLimit(.minutes(5)))
    func cancelledBeforeTheAwait() async throws {
        let task = Task { () async throws -> Int in
            withUnsafeCurrentTask { $0?.cancel() }
            return try await KillableThread.run(name: "precancel") { ctx in
                try ctx.sleep(for: .seconds(3600))
                return 1
            }
        }
        expectStoppedByCancel(await task.result)
    }

    @Test("async withTimeout returns a fast body's value, ends a blocked body at the stop request, and stops when its task is cancelled",
          .timeLimit(.minutes(5)),
          .disabled(under: .thread, because: "TSan defers the signal that wakes a blocked syscall: Docs/Sanitizers.md"))
    func asyncTimeout() async throws {
        #expect(try await withTimeout(.seconds(20)) { _ in 42 } == 42)
        await #expect(throws: Boom(code: 6)) { try await withTimeout(.seconds(20)) { _ in throw Boom(code: 6) } }
        let pipe = Pipe()
        do {
            try await withTimeout(.milliseconds(30), grace: .seconds(20)) { ctx in try blockInRead(ctx, pipe.read) }
            Issue.record("expected a timeout")
        } catch let timeout as TimeoutError {
            #expect(timeout.report?.stopped == true, "\(timeout)")
            #expect(timeout.report?.stepThatActed == .requestStop, "\(timeout)")
            #expect(timeout.report?.stepsTaken == [.requestStop], "\(timeout)")
            #expect(timeout.thread?.name == "withTimeout" && timeout.job == nil && timeout.processOutcome == nil)
        }
        let tid = Atomic<Int32>(0)
        let task = Task {
            try await withTimeout(.seconds(3600), grace: .seconds(20)) { ctx in
                tid.store(CPthreadShim_gettid(), ordering: .releasing)
                try blockInRead(ctx, pipe.read)
            }
        }
        await eventually("blocked in read") {
            let t = tid.load(ordering: .acquiring)
            return t != 0 && isInSyscall(tid: t, Int(SYS_read))
        }
        task.cancel()
        expectStoppedByCancel(await task.result)
    }

    @Test("async join(timeout:) leaves a running thread running; async stop(grace:) ends it", .timeLimit(.minutes(5)))
    func asyncJoinTimeoutAndStop() async throws {
        let thread = try KillableThread(name: "async-stop") { ctx in while true { try ctx.sleep(for: .seconds(3600)) } }
        #expect(try await thread.join(timeout: .milliseconds(10)) == nil)
        #expect(try await thread.ref.join(timeout: .zero) == false)
        #expect(thread.state != .finished)
        let result = try await thread.stop(grace: .seconds(20))
        #expect(result.report.stopped, "\(result.report)")
        #expect(result.report.stepThatActed == .requestStop, "\(result.report)")
        guard result.outcome?.report?.reason == .stopRequested else {
            Issue.record("expected a kill by a stop request, got \(String(describing: result.outcome))")
            return
        }
        #expect(try await thread.ref.join(timeout: hangBound) == true)
        let again = try await thread.ref.stop(grace: .seconds(1))
        #expect(again.stopped && again.stepThatActed == nil, "\(again)")
    }

    @Test("the async API refuses negative durations with .invalidDuration, before starting anything", .timeLimit(.minutes(5)))
    func asyncRefusals() async throws {
        let negative = CancellationPolicy.stop(grace: .seconds(-1))
        await expectRefusal(.invalidDuration) { _ = try await KillableThread.run(onCancel: negative) { _ in 1 } }
        let thread = try KillableThread(name: "refusals") { ctx in try ctx.sleep(for: .seconds(3600)) }
        await expectRefusal(.invalidDuration) { _ = try await thread.join(onCancel: negative) }
        await expectRefusal(.invalidDuration) { _ = try await thread.join(timeout: .seconds(-1)) }
        await expectRefusal(.invalidDuration) { _ = try await thread.join(timeout: .seconds(1), onCancel: negative) }
        await expectRefusal(.invalidDuration) { _ = try await thread.stop(grace: .seconds(-1)) }
        await expectRefusal(.invalidDuration) { _ = try await thread.ref.join(timeout: .seconds(-1)) }
        await expectRefusal(.invalidDuration) { _ = try await thread.ref.stop(grace: .seconds(-1)) }
        await expectRefusal(.invalidDuration) { try await withTimeout(.seconds(-1)) { _ in } }
        await expectRefusal(.invalidDuration) { try await withTimeout(.seconds(1), grace: .seconds(-1)) { _ in } }
        await expectRefusal(.invalidDuration) { _ = try await IsolatedProcess.run(FixtureJob.double, input: 1, timeout: .seconds(-1), executable: fixturePath) }
        await expectRefusal(.invalidDuration) { _ = try await IsolatedProcess.run(FixtureJob.double, input: 1, timeout: .seconds(1), grace: .seconds(-1), executable: fixturePath) }
        let process = try IsolatedProcess.start(FixtureJob.spin, input: 0, executable: fixturePath)
        await expectRefusal(.invalidDuration) { _ = try await process.wait(onCancel: negative) }
        await expectRefusal(.invalidDuration) { _ = try await process.wait(timeout: .seconds(-1)) }
        await expectRefusal(.invalidDuration) { _ = try await process.terminate(grace: .seconds(-1)) }
        #expect(!process.hasEnded)
        #expect(try await process.kill().outcome == .signaled(.kill))
        #expect(thread.state != .finished)
        try thread.requestStop()
        _ = try await thread.join()
    }

    @Test("async IsolatedProcess: run returns the value or times out, terminate and kill stop a job, cancelling a wait or a run terminates it",
          .timeLimit(.minutes(5)))
    func asyncProcesses() async throws {
        #expect(try await IsolatedProcess.run(FixtureJob.double, input: 21, timeout: .seconds(30), executable: fixturePath) == 42)
        do {
            _ = try await IsolatedProcess.run(FixtureJob.spin, input: 0, timeout: .milliseconds(100), grace: .seconds(5), executable: fixturePath)
            Issue.record("expected a timeout")
        } catch let timeout as TimeoutError {
            // The same error as a thread's timeout, with the process's fields.
            #expect(timeout.job == "spin" && timeout.processOutcome == .signaled(.terminate), "\(timeout)")
            #expect(timeout.report == nil && timeout.thread == nil)
        }

        let terminated = try IsolatedProcess.start(FixtureJob.spin, input: 0, executable: fixturePath)
        #expect(try await terminated.wait(timeout: .milliseconds(50)) == nil)
        #expect(try await terminated.terminate(grace: .seconds(5)).outcome == .signaled(.terminate))
        #expect(terminated.hasEnded)
        #expect(try await terminated.wait().outcome == .signaled(.terminate))  // the same result, again

        let killed = try IsolatedProcess.start(FixtureJob.spin, input: 0, executable: fixturePath)
        #expect(try await killed.kill().outcome == .signaled(.kill))

        let waited = try IsolatedProcess.start(FixtureJob.spin, input: 0, executable: fixturePath)
        let waitTask = Task { try await waited.wait(onCancel: .stop(grace: .seconds(5))) }
        #expect(try await waited.wait(timeout: .milliseconds(50)) == nil)  // running, and waited for by the task
        waitTask.cancel()
        guard case .failure(let error as TaskCancelledError) = await waitTask.result else {
            Issue.record("expected TaskCancelledError")
            return
        }
        #expect(error.processOutcome == .signaled(.terminate), "\(error)")
        #expect(error.report == nil && error.thread == nil && error.job == "spin")
        #expect(waited.hasEnded)
        #expect(try await waited.wait().outcome == .signaled(.terminate))  // the full result stays available

        let runTask = Task { try await IsolatedProcess.run(FixtureJob.spin, input: 0, timeout: .seconds(3600), grace: .seconds(5), executable: fixturePath) }
        runTask.cancel()
        guard case .failure(let runError as TaskCancelledError) = await runTask.result, case .signaled = runError.processOutcome else {
            Issue.record("expected TaskCancelledError with a signal")
            return
        }
    }
}
