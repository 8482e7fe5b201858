import CPthreadShim
import CThreadKillTestSupport
import Synchronization
import Testing
@testable import ThreadKill
import ThreadKillTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Counts C cleanups: the argument points to an Atomic-free Int32 only the helper touches.
let countCleanup: @convention(c) (UnsafeMutableRawPointer?) -> Void = { arg in
    arg!.assumingMemoryBound(to: Int32.self).pointee += 1
}

/// Starts `body` on a thread and waits until it has entered it; with
/// `blockedIn`, until the thread itself is blocked in that syscall (a built-in
/// cancellable call runs on the calling thread).
func startInCancellableCall<T: Sendable>(_ name: String, blockedIn syscall: Int? = nil,
                                         _ body: @escaping @Sendable (KillContext) throws -> T) throws -> KillableThread<T> {
    let tid = Atomic<Int32>(0)
    let thread = try KillableThread(name: name) { ctx -> T in
        tid.store(CPthreadShim_gettid(), ordering: .releasing)
        return try body(ctx)
    }
    eventually("entered") { tid.load(ordering: .acquiring) != 0 }
    if let syscall { waitUntilInSyscall(tid: tid.load(ordering: .acquiring), syscall) }
    return thread
}

@Suite("Cancel", .disabled(under: .thread, because: "TSan aborts the process when a thread it tracks is unwound by pthread_cancel inside an interceptor (\"thread finished with ignores enabled\"): Docs/Sanitizers.md"))
struct CancelTests {
    @Test("cancel ends a thread blocked in cancellableSleep, cancellableRead or cancellablePoll, on the thread itself: no helper thread", .timeLimit(.hang))
    func cancelLeafCalls() throws {
        let pipe = Pipe()
        let bodies: [(Int, @Sendable (KillContext) throws -> Void)] = [
            (Int(CPthreadShim_SYS_clock_nanosleep), { ctx in try ctx.cancellableSleep(for: .seconds(3600)) }),
            (Int(CPthreadShim_SYS_read), { ctx in
                var byte: UInt8 = 0
                _ = try withUnsafeMutableBytes(of: &byte) { try ctx.cancellableRead(pipe.read, into: $0) }
            }),
            (Int(CPthreadShim_SYS_ppoll), { ctx in
                var fds = [pollfd(fd: pipe.read, events: Int16(POLLIN), revents: 0)]
                _ = try ctx.cancellablePoll(&fds)
            }),
        ]
        for (syscall, body) in bodies {
            let name = uniqueName("leaf")
            let thread = try startInCancellableCall(name, blockedIn: syscall, body)
            #expect(threadNames().filter { $0 == name }.count == 1, "syscall \(syscall): a helper thread was started")
            try thread.cancel()
            guard case .killed(let report) = try thread.joinOrFail(), report.reason == .cancelled else {
                Issue.record("syscall \(syscall): expected a kill by a cancel")
                continue
            }
        }
    }

    @Test("a pending cancel leaves read, sleep and checkpoints alone; the next cancellable call acts on it", .timeLimit(.hang))
    func pendingCancelIsNoKill() throws {
        let pipe = Pipe()
        let go = Latch()
        let tid = Atomic<Int32>(0)
        let thread = try KillableThread(name: "cancel-waits") { ctx -> [String] in
            go.wait()  // the cancel is pending from here on
            tid.store(CPthreadShim_gettid(), ordering: .releasing)
            var steps: [String] = []
            var byte: UInt8 = 0
            let n = try withUnsafeMutableBytes(of: &byte) { try ctx.read(pipe.read, into: $0) }
            steps.append("read \(n)")
            // Sleeping with a cancel pending: a wait on the kill word, not a spin.
            let cpuBefore = threadCPUNanos()
            try ctx.sleep(for: .milliseconds(200))
            steps.append(threadCPUNanos() - cpuBefore < 100_000_000 ? "slept" : "spun")
            try ctx.checkpoint()
            steps.append("checkpoint")
            do { try ctx.cancellableSleep(for: .seconds(3600)) } catch let kill as KillError { steps.append(kill.reason.rawValue) }
            return steps
        }
        try thread.cancel()
        go.open()
        eventually("the thread started") { tid.load(ordering: .acquiring) != 0 }
        waitUntilInSyscall(tid: tid.load(ordering: .acquiring), Int(CPthreadShim_SYS_read))
        // Lower-bound style: the read goes on blocking.
        #expect(try thread.join(timeout: .milliseconds(300)) == nil, "a pending cancel woke ctx.read")
        var one: UInt8 = 1
        #expect(withUnsafeBytes(of: &one) { Glibc.write(pipe.write, $0.baseAddress, 1) } == 1)
        #expect(try thread.joinOrFail().value == ["read 1", "slept", "checkpoint", "cancelled"])
    }

    @Test("a cancel racing the entry of a cancellable read is never lost", .timeLimit(.hang))
    func cancelRacesEntry() throws {
        let pipe = Pipe()
        for round in 0..<300 {
            let thread = try KillableThread(name: "cancel-race") { ctx in
                var byte: UInt8 = 0
                _ = try withUnsafeMutableBytes(of: &byte) { try ctx.cancellableRead(pipe.read, into: $0) }
            }
            if round % 2 == 1 { for _ in 0..<(round % 50) { sched_yield() } }  // vary where the cancel meets the call
            try thread.cancel()
            guard let outcome = try thread.join(timeout: hangBound) else {
                Issue.record("round \(round): the cancel was lost; the read still blocks")
                try thread.interrupt()
                return
            }
            #expect(outcome.report?.reason == .cancelled, "round \(round): \(outcome)")
        }
    }

    @Test("a cancel runs the C cleanup once and the Swift cleanup stack once, in order, as the Swift frames unwind", .timeLimit(.hang))
    func cleanupsRunOnce() throws {
        let swiftCleanups = Atomic(0)
        let cleanupOrder = Mutex<[String]>([])
        let cCleanups = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
        cCleanups.initialize(to: 0)
        defer { cCleanups.deallocate() }
        let cAddress = UInt(bitPattern: cCleanups)
        let thread = try startInCancellableCall("cleanups") { ctx in
            ctx.onKill {
                swiftCleanups.add(1, ordering: .relaxed)
                cleanupOrder.withLock { $0.append("thread") }
            }
            defer { cleanupOrder.withLock { $0.append("body defer") } }
            try ctx.withCleanup({
                swiftCleanups.add(10, ordering: .relaxed)
                cleanupOrder.withLock { $0.append("withCleanup") }
            }) {
                defer { cleanupOrder.withLock { $0.append("inner defer") } }
                var micros = 3_600_000_000
                _ = try withUnsafeMutablePointer(to: &micros) {
                    try ctx.cancellableCall(tk_test_leaf_usleep, argument: $0,
                                            onCancel: countCleanup, cleanupArgument: UnsafeMutableRawPointer(bitPattern: cAddress))
                }
            }
        }
        // The C cleanup exists once the helper thread (it inherits the name) is
        // inside the leaf's nanosleep: a kept helper exists before its first call.
        eventually("the helper thread is inside the leaf") {
            threads().contains { $0.name == "cleanups" && isInSyscall(tid: $0.id, tk_test_SYS_clock_nanosleep()) }
        }
        try thread.cancel()
        guard try thread.joinOrFail().report?.reason == .cancelled else {
            Issue.record("expected a kill by a cancel")
            return
        }
        #expect(cCleanups.pointee == 1)
        #expect(swiftCleanups.load(ordering: .relaxed) == 11)
        #expect(cleanupOrder.withLock { $0 } == ["inner defer", "withCleanup", "body defer", "thread"])
    }

    @Test("a cancel inside mutex.withLock runs every defer and leaves the mutex free; the thread still ends cancelled", .timeLimit(.hang))
    func cancelReleasesLocksAndRunsDefers() throws {
        let mutex = Mutex(0)
        let deferRan = Atomic(false)
        let afterCall = Atomic(false)
        let thread = try startInCancellableCall("cancel-lock", blockedIn: Int(CPthreadShim_SYS_clock_nanosleep)) { ctx in
            defer { deferRan.store(true, ordering: .relaxed) }
            try mutex.withLock { _ in try ctx.cancellableSleep(for: .seconds(3600)) }
            afterCall.store(true, ordering: .relaxed)
        }
        try thread.cancel()
        guard case .killed(let report) = try thread.joinOrFail(), report.reason == .cancelled else {
            Issue.record("expected a kill by a cancel")
            return
        }
        #expect(report.reason == .cancelled)
        let (deferDidRun, callReturned) = (deferRan.load(ordering: .relaxed), afterCall.load(ordering: .relaxed))
        #expect(deferDidRun)
        #expect(!callReturned)
        let acquired = mutex.withLockIfAvailable { $0 += 1; return true }
        #expect(acquired == true, "the mutex is still held after cancel()")
    }

    @Test("a cancel is sticky: a body that catches it is cancelled again at its next delivery point", .timeLimit(.hang))
    func cancelIsSticky() throws {
        let caught = Atomic(0)
        let thread = try startInCancellableCall("sticky-cancel", blockedIn: Int(CPthreadShim_SYS_clock_nanosleep)) { ctx in
            do { try ctx.cancellableSleep(for: .seconds(3600)) } catch let kill as KillError where kill.reason == .cancelled {
                caught.add(1, ordering: .relaxed)
            }
            try ctx.checkpoint()  // thrown again here
        }
        try thread.cancel()
        guard try thread.joinOrFail().report?.reason == .cancelled else {
            Issue.record("expected a kill by a cancel")
            return
        }
        #expect(caught.load(ordering: .relaxed) == 1)
    }

    @Test("a cancel waits, pending, while the thread is not in a cancellable call")
    func cancelWaitsOutsideCalls() throws {
        let go = Latch()
        let thread = try KillableThread { ctx -> String in
            go.wait()
            try ctx.checkpoint()         // a cancel is not delivered here
            try ctx.sleep(for: .milliseconds(1))
            try ctx.cancellableSleep(for: .seconds(3600))  // but here, at once
            return "not cancelled"
        }
        try thread.cancel()
        go.open()
        guard try thread.joinOrFail().report?.reason == .cancelled else {
            Issue.record("expected a kill by a cancel")
            return
        }
    }

    @Test("an interrupt also wakes a cancellable call (it is interruptible), as a catchable error", .timeLimit(.hang))
    func interruptWakesCancellableCall() throws {
        let thread = try startInCancellableCall("interrupt") { ctx -> String in
            do { try ctx.cancellableSleep(for: .seconds(3600)) } catch let kill as KillError { return kill.reason.rawValue }
            return "slept"
        }
        try thread.interrupt()
        #expect(try thread.joinOrFail().value == "interrupted")
    }

    @Test("a call that returns is not disturbed, and its result and errors come back")
    func normalCalls() throws {
        let thread = try KillableThread { ctx -> [Int] in
            var micros = 10
            let slept = try withUnsafeMutablePointer(to: &micros) { try ctx.cancellableCall(tk_test_leaf_usleep, argument: $0) }
            var code: Int = 0
            do {
                var byte: UInt8 = 0
                _ = try withUnsafeMutableBytes(of: &byte) { try ctx.cancellableRead(-1, into: $0) }
            } catch let e as ThreadKillError {
                code = Int(e.underlyingError?.rawValue ?? 0)
            }
            return [slept, code]
        }
        #expect(try thread.joinOrFail().value == [0, Int(EBADF)])
    }
}

@Suite("Escalation ladder and timeouts")
struct LadderTests {
    @Test("stop(grace:) ends each kind of thread and names the step that acted", .timeLimit(.hang),
          .disabled(under: .thread, .address, because: "includes an async-region body (refused under sanitizers) and a blocked read (TSan defers the signal): Docs/Sanitizers.md"))
    func ladderStopsEachKind() throws {
        let pipe = Pipe()
        let release = Atomic(false)
        let kinds: [(String, StopLadder.Step, @Sendable (KillContext) throws -> Void)] = [
            ("cooperative", .requestStop, { ctx in while true { try ctx.sleep(for: .seconds(3600)) } }),
            ("blocked", .requestStop, { ctx in  // a stop wakes an interruptible syscall
                var byte: UInt8 = 0
                _ = try withUnsafeMutableBytes(of: &byte) { try ctx.read(pipe.read, into: $0) }
            }),
            ("stop-swallower", .interrupt, { ctx in
                while true {  // carries on after a stop; an interrupt ends it
                    var byte: UInt8 = 0
                    do { _ = try withUnsafeMutableBytes(of: &byte) { try ctx.read(pipe.read, into: $0) } }
                    catch let kill as KillError where kill.reason == .stopRequested {}
                }
            }),
            ("cpu-bound", .requestStop, { ctx in try ctx.asyncKillable { while true { _ = spin(iterations: 1000) } } }),
            ("c-call", .requestStop, { ctx in try ctx.cancellableSleep(for: .seconds(3600)) }),  // interruptible: a stop wakes it
            ("retrier", .cancel, { ctx in
                while true {  // retries after a stop or an interrupt; only a cancel ends it
                    do { try ctx.cancellableSleep(for: .seconds(3600)) } catch let kill as KillError where kill.reason != .cancelled {}
                }
            }),
            ("masked-then-free", .requestStop, { ctx in
                try ctx.masked {  // finishes its critical section, then the stop lands at the mask's end
                    while !ctx.isStopRequested { try ctx.checkpoint() }
                    _ = spin(iterations: 100_000)
                }
                release.store(true, ordering: .releasing)  // never reached
            }),
        ]
        for (name, expected, body) in kinds {
            let thread = try startInCancellableCall(name, body)
            let result = try thread.stop(grace: .seconds(4))
            #expect(result.report.stopped, "\(name): \(result.report)")
            #expect(result.report.stepThatActed == expected, "\(name): \(result.report)")
            #expect(result.outcome != nil)
        }
        let reachedAfterMask = release.load(ordering: .acquiring)
        #expect(!reachedAfterMask)
    }

    @Test("a thread that reaches no step that can end it is reported not stopped when the grace runs out", .timeLimit(.hang))
    func ladderGivesUp() throws {
        let quit = Atomic(false)
        let thread = try KillableThread(name: "unstoppable") { ctx in
            while !quit.load(ordering: .acquiring) {
                do { try ctx.checkpoint() } catch {}  // swallows everything, never in a region
            }
        }
        let result = try thread.stop(grace: .milliseconds(200))
        #expect(!result.report.stopped)
        #expect(result.outcome == nil)
        #expect(result.report.stepsTaken == [.requestStop, .interrupt, .inject, .cancel])
        quit.store(true, ordering: .releasing)
        _ = try thread.joinOrFail()
    }

    @Test("withTimeout returns a fast body's value and stops sleeping, blocked and CPU-bound bodies", .timeLimit(.hang),
          .disabled(under: .thread, .address, because: "includes an async-region body (refused under sanitizers) and a blocked read (TSan defers the signal): Docs/Sanitizers.md"))
    func timeouts() throws {
        #expect(try withTimeout(.seconds(20)) { _ in 42 } == 42)
        let pipe = Pipe()
        let bodies: [@Sendable (KillContext) throws -> Void] = [
            { ctx in try ctx.sleep(for: .seconds(3600)) },
            { ctx in
                var byte: UInt8 = 0
                _ = try withUnsafeMutableBytes(of: &byte) { try ctx.read(pipe.read, into: $0) }
            },
            { ctx in try ctx.asyncKillable { while true { _ = spin(iterations: 1000) } } },
        ]
        for body in bodies {
            do {
                try withTimeout(.milliseconds(20), grace: .seconds(20), body)
                Issue.record("expected a timeout")
            } catch let timeout as TimeoutError {
                #expect(timeout.report?.stopped == true, "\(timeout)")
            }
        }
    }

    @Test("withTimeout passes the body's own error through, and refuses negative durations")
    func timeoutErrors() {
        #expect(throws: Boom(code: 3)) { try withTimeout(.seconds(20)) { _ in throw Boom(code: 3) } }
        expectRefusal(.invalidDuration) { try withTimeout(.seconds(-1)) { _ in } }
    }
}

/// CPU time the calling thread has used.
private func threadCPUNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
