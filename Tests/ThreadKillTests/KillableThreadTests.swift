import Dispatch
import CPthreadShim
import Synchronization
import Testing
@testable import ThreadKill
import ThreadKillStress
import ThreadKillTestSupport
#if canImport(Glibc)
import Glibc
#endif

struct Boom: Error, Equatable { let code: Int }

@Suite("KillableThread")
struct KillableThreadTests {
    @Test("a body's value comes back from join")
    func returnsValue() throws {
        let thread = try KillableThread { _ in 6 * 7 }
        #expect(try thread.joinOrFail().value == 42)
        #expect(thread.state == .finished)
    }

    @Test("a body's own error comes back as .threw")
    func throwsError() throws {
        let thread = try KillableThread { _ -> Int in throw Boom(code: 7) }
        guard case .threw(let error) = try thread.joinOrFail() else {
            Issue.record("expected .threw")
            return
        }
        #expect(error as? Boom == Boom(code: 7))
    }

    @Test("requestStop wakes a thread from a one-hour sleep, at once", .timeLimit(.hang))
    func stopWakesSleep() throws {
        let sleeping = Latch()
        let thread = try KillableThread(name: "sleeper") { ctx in
            sleeping.open()
            try ctx.sleep(for: .seconds(3600))
        }
        sleeping.wait()
        try thread.requestStop()
        guard case .killed(let report) = try thread.joinOrFail(), report.reason == .stopRequested else {
            Issue.record("expected a kill by a stop request")
            return
        }
        #expect(report.reason == .stopRequested)
        #expect(report.latency < hangBound)
    }

    @Test("requestStop wakes a thread waiting on a monitor that nobody will change", .timeLimit(.hang))
    func stopWakesMonitorWait() throws {
        let monitor = Monitor(0)
        let waiting = Latch()
        let thread = try KillableThread { ctx -> Int? in
            waiting.open()
            return try ctx.wait(on: monitor, until: { $0 > 0 }) { $0 }
        }
        waiting.wait()
        try thread.requestStop()
        #expect(try thread.joinOrFail().report?.reason == .stopRequested)
    }

    @Test("a monitor wait returns the value once the condition holds")
    func monitorWaitSeesChange() throws {
        let monitor = Monitor<[Int]>([])
        let thread = try KillableThread { ctx in
            try ctx.wait(on: monitor, until: { !$0.isEmpty }) { $0.removeFirst() }
        }
        monitor.withLock { $0.append(5) }
        #expect(try thread.joinOrFail().value == .some(5))
    }

    @Test("a monitor wait with a timeout returns nil when it passes, not before")
    func monitorWaitTimesOut() throws {
        let monitor = Monitor(false)
        let thread = try KillableThread { ctx -> (Int?, Duration) in
            let start = ContinuousClock.now
            let value = try ctx.wait(on: monitor, until: { $0 }, timeout: .milliseconds(20)) { _ in 1 }
            return (value, ContinuousClock.now - start)
        }
        let (value, waited) = try #require(try thread.joinOrFail().value)
        #expect(value == nil)
        #expect(waited >= .milliseconds(20), "the wait timed out after \(waited), before its timeout")
    }

    @Test("a short sleep that nobody interrupts returns normally, after the time asked")
    func sleepReturns() throws {
        let thread = try KillableThread { ctx -> Duration in
            let start = ContinuousClock.now
            try ctx.sleep(for: .milliseconds(20))
            return ContinuousClock.now - start
        }
        let slept = try #require(try thread.joinOrFail().value)
        #expect(slept >= .milliseconds(20), "the sleep returned after \(slept)")
    }

    @Test("timed waits that nobody interrupts last at least as long as asked: poll, cancellable sleep, join")
    func timedWaitsLastTheirTime() throws {
        let pipe = Pipe()
        let thread = try KillableThread { ctx -> [Duration] in
            var fds = [pollfd(fd: pipe.read, events: Int16(POLLIN), revents: 0)]
            var start = ContinuousClock.now
            let ready = try ctx.poll(&fds, timeout: .milliseconds(20))
            let polled = ContinuousClock.now - start
            precondition(ready == 0, "nothing was written to the pipe")
            start = ContinuousClock.now
            try ctx.cancellableSleep(for: .milliseconds(20))
            return [polled, ContinuousClock.now - start]
        }
        let durations = try #require(try thread.joinOrFail().value)
        #expect(durations[0] >= .milliseconds(20), "poll returned after \(durations[0])")
        #expect(durations[1] >= .milliseconds(20), "cancellableSleep returned after \(durations[1])")
        let sleeper = try KillableThread { ctx in try ctx.sleep(for: .seconds(3600)) }
        let start = ContinuousClock.now
        #expect(try sleeper.join(timeout: .milliseconds(20)) == nil)
        let joined = ContinuousClock.now - start
        #expect(joined >= .milliseconds(20), "join(timeout:) gave up after \(joined)")
        try sleeper.requestStop()
        _ = try sleeper.joinOrFail()
    }

    @Test("a stop is sticky: swallowed once, it is thrown again at the next checkpoint")
    func stopIsSticky() throws {
        let thread = try KillableThread { ctx -> Int in
            try ctx.thread.requestStop()
            var swallowed = 0
            do { try ctx.checkpoint() } catch { swallowed += 1 }
            do { try ctx.checkpoint() } catch { swallowed += 1 }
            return swallowed
        }
        #expect(try thread.joinOrFail().value == 2)
    }

    @Test("the seed's stop-flag loop ends when the flag is set")
    func stopFlagLoop() throws {
        let running = Latch()
        let thread = try KillableThread { ctx -> Int in
            var iterations = 0
            while !ctx.isStopRequested {
                iterations += 1
                if iterations == 1 { running.open() }
            }
            return iterations
        }
        running.wait()
        try thread.requestStop()
        #expect((try thread.joinOrFail().value ?? 0) > 0)
    }

    @Test("a group source stops every thread linked to it", .timeLimit(.hang))
    func groupStop() throws {
        let group = StopSource()
        let threads = try (0..<4).map { _ in
            try KillableThread(stopToken: group.token) { ctx in try ctx.sleep(for: .seconds(3600)) }
        }
        group.requestStop()
        for thread in threads {
            #expect(try thread.joinOrFail().report?.reason == .stopRequested)
        }
    }

    @Test("a thread started with a group that is already stopped is stopped: its kill word is set before the body runs", .timeLimit(.hang))
    func startedInStoppedGroup() throws {
        let group = StopSource()
        group.requestStop()
        let seenAtStart = Atomic<Int>(-1)
        let thread = try KillableThread(stopToken: group.token) { ctx in
            seenAtStart.store(ctx.isStopRequested ? 1 : 0, ordering: .relaxed)
            try ctx.sleep(for: .seconds(3600))  // throws at once: the stop is pending
        }
        let outcome = try thread.joinOrFail()
        #expect(outcome.report?.reason == .stopRequested, "\(outcome)")
        #expect(seenAtStart.load(ordering: .relaxed) == 1)
    }

    @Test("masked defers a stop until the outermost mask ends")
    func maskedDefers() throws {
        let thread = try KillableThread { ctx -> [String] in
            var log: [String] = []
            do {
                try ctx.masked {
                    try ctx.thread.requestStop()
                    try ctx.checkpoint()
                    log.append("outer")
                    try ctx.masked {
                        try ctx.checkpoint()
                        log.append("inner")
                    }
                    log.append("after inner")
                }
            } catch let kill as KillError {
                log.append(kill.reason.rawValue)
            }
            return log
        }
        #expect(try thread.joinOrFail().value == ["outer", "inner", "after inner", "stop requested"])
    }

    @Test("uninterruptible keeps a sleep asleep through a stop, then delivers it")
    func uninterruptibleSleep() throws {
        let thread = try KillableThread { ctx -> Bool in
            var slept = false
            do {
                try ctx.uninterruptible {
                    try ctx.thread.requestStop()
                    try ctx.sleep(for: .milliseconds(20))
                    slept = true
                }
            } catch is KillError {
                return slept
            }
            return false
        }
        #expect(try thread.joinOrFail().value == true)
    }

    @Test("join(timeout:) returns nil while the thread runs, then the outcome", .timeLimit(.hang))
    func joinTimeout() throws {
        let thread = try KillableThread { ctx in try ctx.sleep(for: .seconds(3600)) }
        let start = ContinuousClock.now
        #expect(try thread.join(timeout: .milliseconds(1)) == nil)
        let waited = ContinuousClock.now - start
        #expect(waited >= .milliseconds(1), "join(timeout:) gave up after \(waited)")
        #expect(thread.state == .running || thread.state == .starting)
        try thread.requestStop()
        _ = try thread.joinOrFail()
    }

    @Test("joining twice gives the same outcome")
    func joinTwice() throws {
        let thread = try KillableThread { _ in "once" }
        #expect(try thread.joinOrFail().value == "once")
        #expect(try thread.joinOrFail().value == "once")
    }

    @Test("what a body captured is released when its thread ends, while the handle is still held")
    func capturesReleasedAtEnd() throws {
        final class Flag: Sendable { let isSet = Atomic(false) }
        final class Captured: Sendable {
            let released: Flag
            init(released: Flag) { self.released = released }
            deinit { released.isSet.store(true, ordering: .releasing) }
        }
        let released = Flag()
        let thread = try { () throws(ThreadKillError) in
            let captured = Captured(released: released)
            return try KillableThread { _ in withExtendedLifetime(captured) {} }
        }()
        _ = try thread.joinOrFail()
        let wasReleased = released.isSet.load(ordering: .acquiring)
        #expect(wasReleased, "the body's captures outlived its thread")
        withExtendedLifetime(thread) {}
    }

    @Test("the thread's name is visible in /proc/self/task")
    func nameVisible() throws {
        let name = uniqueName("named")
        let started = Latch()
        let thread = try KillableThread(name: name) { ctx in
            started.open()
            try ctx.sleep(for: .seconds(3600))
        }
        started.wait()
        #expect(threadNames().contains(name))
        #expect(KillableThreads.liveThreads.contains { $0.name == name })
        try thread.requestStop()
        _ = try thread.joinOrFail()
        #expect(!KillableThreads.liveThreads.contains { $0.name == name })
    }

    @Test("liveThreads lists exactly the threads still running while they end in any order: first, last and middle of every registry shard", .timeLimit(.hang))
    func liveThreadsWhileEnding() throws {
        let threads = try (0..<64).map { _ in
            try KillableThread(name: "live-list") { ctx in try ctx.sleep(for: .seconds(3600)) }
        }
        let ids = Set(threads.map(\.id))
        var running = ids
        #expect(Set(KillableThreads.liveThreads.map(\.id)).intersection(ids) == running)
        // Every third first, then the newest first, then the rest oldest first.
        let order = stride(from: 0, to: 64, by: 3).map { $0 }
            + stride(from: 63, to: 0, by: -1).filter { $0 % 3 != 0 && $0 > 31 }
            + (0..<64).filter { $0 % 3 != 0 && $0 <= 31 }
        for index in order {
            try threads[index].requestStop()
            _ = try threads[index].joinOrFail()
            running.remove(threads[index].id)
            #expect(Set(KillableThreads.liveThreads.map(\.id)).intersection(ids) == running)
        }
    }

    @Test("a registry shard leaves alone a thread that is not in it: unlinking an ended thread again drops no live one", .timeLimit(.hang))
    func secondUnlinkIgnored() throws {
        let ended = try KillableThread(name: "ended") { _ in }
        _ = try ended.joinOrFail()  // unlinked from its shard as it ended
        // At least two live threads in the ended thread's shard (shards go by
        // id, and other tests take ids meanwhile).
        var live: [KillableThread<Void>] = []
        defer { for thread in live { _ = try? thread.stop(grace: hangBound) } }
        while live.filter({ Registry.shardIndex(of: $0.core) == Registry.shardIndex(of: ended.core) }).count < 2 {
            live.append(try KillableThread(name: "live-shard") { ctx in try ctx.sleep(for: .seconds(3600)) })
        }
        Registry.remove(ended.core)  // a stray second unlink
        let ids = Set(live.map(\.id))
        #expect(Set(KillableThreads.liveThreads.map(\.id)).intersection(ids) == ids)
    }

    @Test("a long name is cut to the kernel's 15 bytes between Unicode scalars, never inside one's UTF-8 bytes",
          arguments: [
              ("exactly-15-byte", "exactly-15-byte"),
              ("sixteen-bytes-ok", "sixteen-bytes-o"),
              ("fourteen-bytes" + "é", "fourteen-bytes"),  // é: 2 bytes, would end at byte 16
              ("thirteen-byte" + "€x", "thirteen-byte"),  // €: 3 bytes, cut after its first
              ("twelve-bytes" + "🙂", "twelve-bytes"),  // 4 bytes, cut after its third
              ("é" + "é" + "é" + "é" + "é" + "é" + "é" + "é", "ééééééé"),
              ("", ""),
          ])
    func longNameCut(name: String, shown: String) throws {
        let thread = try KillableThread(name: name) { _ in ProcSelf.firstLine("/proc/thread-self/comm") }
        #expect(try thread.joinOrFail().value == shown)
    }

    @Test("a stack size option is honoured, and a too-small one is refused")
    func stackSize() throws {
        let thread = try KillableThread(stackSize: 1 << 20) { _ in
            CPthreadShim_current_stack_size()
        }
        #expect(try thread.joinOrFail().value == 1 << 20)
        #expect(throws: ThreadKillError.self) { try KillableThread(stackSize: 100) { _ in } }
    }
}

@Suite("Refused operations")
struct RefusalTests {
    @Test("operations on a finished thread are refused and send nothing")
    func finishedThread() throws {
        let thread = try KillableThread { _ in }
        _ = try thread.joinOrFail()
        expectRefusal(.alreadyFinished) { try thread.requestStop() }
        expectRefusal(.alreadyFinished) { try thread.interrupt() }
    }

    @Test("joining or interrupting the calling thread is refused")
    func callingThread() throws {
        let holder = Mutex<KillableThread<[ThreadKillError.Code]>?>(nil)
        let go = Latch()
        let thread = try KillableThread { ctx -> [ThreadKillError.Code] in
            go.wait()
            var codes: [ThreadKillError.Code] = []
            do { _ = try holder.withLock { $0 }!.join() } catch let e as ThreadKillError { codes.append(e.code) }
            do { try ctx.thread.interrupt() } catch let e as ThreadKillError { codes.append(e.code) }
            return codes
        }
        holder.withLock { $0 = thread }
        go.open()
        #expect(try thread.joinOrFail().value == [.callingThread, .callingThread])
        holder.withLock { $0 = nil }
    }

    @Test("negative durations are refused with a typed error")
    func negativeDurations() throws {
        let thread = try KillableThread { ctx -> [ThreadKillError.Code] in
            var codes: [ThreadKillError.Code] = []
            do { try ctx.sleep(for: .seconds(-1)) } catch let e as ThreadKillError { codes.append(e.code) }
            do { _ = try ctx.wait(on: Monitor(0), until: { _ in false }, timeout: .nanoseconds(-1)) { _ in 0 } } catch let e as ThreadKillError { codes.append(e.code) }
            return codes
        }
        #expect(try thread.joinOrFail().value == [.invalidDuration, .invalidDuration])
        expectRefusal(.invalidDuration) { _ = try thread.join(timeout: .seconds(-5)) }
    }

    @Test("the main thread is never a target")
    func mainThread() throws {
        var known: Int32 = 0
        let main = CPthreadShim_main_thread(&known)
        try #require(known != 0, "the shim recorded the main thread at load time")
        expectRefusal(.mainThread) { _ = try KillableThreads.thread(for: main) }
    }

    @Test("threads ThreadKill did not start are not targets: Dispatch, Swift-concurrency and raw pthreads, while they run")
    func notOwned() async throws {
        // A real Dispatch worker (not `sync`, which runs on the calling thread),
        // asked while it is still running.
        let caller = pthread_self()
        let onWorker = Latch()
        let done = Latch()
        let worker = Mutex<(pthread_t, ThreadKillError.Code?, Bool)?>(nil)
        DispatchQueue.global().async {
            let me = pthread_self()
            var code: ThreadKillError.Code?
            do throws(ThreadKillError) { _ = try KillableThreads.thread(for: me) } catch { code = error.code }
            worker.withLock { $0 = (me, code, KillableThreads.currentThread == nil) }
            onWorker.open()
            done.wait()
        }
        onWorker.wait()
        let (dispatchThread, dispatchCode, dispatchUnknown) = try #require(worker.withLock { $0 })
        #expect(pthread_equal(dispatchThread, caller) == 0, "a Dispatch worker thread, not the caller's")
        #expect(dispatchCode == .notOwned)
        #expect(dispatchUnknown, "a Dispatch worker is not a killable thread")
        expectRefusal(.notOwned) { _ = try KillableThreads.thread(for: dispatchThread) }
        done.open()
        // A Swift-concurrency pool thread, asked from the task itself while it
        // runs: once the task is done its thread may exit, and glibc hands the
        // same pthread_t to the next thread created — perhaps another test's
        // killable thread.
        let taskCode = await Task.detached { () -> ThreadKillError.Code? in
            do throws(ThreadKillError) { _ = try KillableThreads.thread(for: pthread_self()) } catch { return error.code }
            return nil
        }.value
        #expect(taskCode == .notOwned)
        // A raw pthread, looked up while it runs.
        let rawRunning = Latch()
        let rawRelease = Latch()
        let rawContext = Unmanaged.passRetained(RawThreadLatches(running: rawRunning, release: rawRelease))
        var raw = pthread_t()
        #expect(pthread_create(&raw, nil, { arg in
            let latches = Unmanaged<RawThreadLatches>.fromOpaque(arg!).takeRetainedValue()
            latches.running.open()
            latches.release.wait()
            return nil
        }, rawContext.toOpaque()) == 0)
        rawRunning.wait()
        expectRefusal(.notOwned) { _ = try KillableThreads.thread(for: raw) }
        rawRelease.open()
        pthread_join(raw, nil)
        #expect(KillableThreads.currentThread == nil)
    }

    @Test("a killable thread is found by its pthread and knows itself")
    func ownedLookup() throws {
        let release = Latch()
        let found = Latch()
        let box = Mutex<pthread_t?>(nil)
        let thread = try KillableThread { ctx -> Bool in
            box.withLock { $0 = pthread_self() }
            found.open()
            release.wait()
            return KillableThreads.currentThread == ctx.thread
        }
        found.wait()
        let ref = try KillableThreads.thread(for: box.withLock { $0 }!)
        #expect(ref == thread.ref)
        release.open()
        #expect(try thread.joinOrFail().value == true)
    }
}


/// The two latches a raw pthread in `notOwned` uses.
final class RawThreadLatches: Sendable {
    let running: Latch
    let release: Latch
    init(running: Latch, release: Latch) {
        self.running = running
        self.release = release
    }
}
