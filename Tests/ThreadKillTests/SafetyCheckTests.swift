import CPthreadShim
import CThreadKillTestSupport
import Synchronization
import Testing
@testable import ThreadKill
#if canImport(Glibc)
import Glibc
#endif

// One behaviour test per injection check and per signal rule: each builds the
// scenario where that check (or rule) is the ONLY guard and shows the hazard it
// exists for — a lock left held, a crash, a lost wake-up, a cleanup cut short,
// a queue of signals — never a statistics counter. `scripts/mutants.sh`
// disables each check alone and proves its test fails (scripts/mutants/*.patch).

/// Handler runs for signals sent to `thread` so far (the shim's `handled`).
func handledSignals<V>(_ thread: KillableThread<V>) -> UInt32 {
    CPthreadShim_handled_load(thread.ref.core.block)
}

/// Interrupts `thread`, then waits until its signal handler has run for a
/// signal sent since: it has judged the scenario (declined, or jumped).
func interruptAndAwaitHandler<V>(_ thread: KillableThread<V>, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let before = handledSignals(thread)
    try thread.interrupt()
    eventually("the signal handler ran", sourceLocation: sourceLocation) { handledSignals(thread) > before }
}

@Suite("Safety checks: each one alone guards a hazard", .serialized,
       .disabled(under: .thread, .address, because: "async regions are refused under sanitizers (injectionUnavailable): Docs/Sanitizers.md"))
struct SafetyCheckTests {
    // A library (HazardLibrary) holds its own lock while it computes and while
    // it calls back. Each test interrupts the thread while the lock is held,
    // waits until the handler has judged that moment, lets the library return,
    // and checks the lock: a jump out of the library would leave it held for ever.

    /// The scenario shared by the library checks: the thread, inside an async
    /// region, is in `enter(library)` while the library holds its lock (`ready`
    /// says when). The test interrupts it, waits until the handler has judged
    /// that moment, lets the library return, and checks that the kill landed
    /// only afterwards, with the lock free.
    private func expectNoJumpOutOfLibrary(
        _ name: String, ready: String, _ enter: @escaping @Sendable (HazardLibrary) -> Void,
        isReady: @escaping (HazardLibrary) -> Bool,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let library = try HazardLibrary.shared.get()
        tk_test_reset()
        let returned = Atomic(false)
        let thread = try KillableThread(name: name) { ctx in
            try ctx.asyncKillable {
                enter(library)
                returned.store(true, ordering: .releasing)
                while true { _ = spin(iterations: 1000) }
            }
        }
        eventually(ready, sourceLocation: sourceLocation) { isReady(library) }
        try interruptAndAwaitHandler(thread, sourceLocation: sourceLocation)
        tk_test_release()
        #expect(try thread.joinOrFail().report?.reason == .interrupted, sourceLocation: sourceLocation)
        let libraryReturned = returned.load(ordering: .acquiring)
        #expect(libraryReturned, "the library returned before the kill landed", sourceLocation: sourceLocation)
        #expect(library.locked() == 0, "the library's lock is free: a jump out of it would have left it held", sourceLocation: sourceLocation)
    }

    @Test("PC check: a kill aimed at a library computing under its own lock waits until it returns; the lock is free",
          .timeLimit(.hang))
    func pcInOwnCode() throws {
        // A leaf of the library: its frames chain like ours, so only the PC tells.
        try expectNoJumpOutOfLibrary("pc-check", ready: "inside the library, its lock held",
                                     { $0.computeLocked(tk_test_release_word()) }, isReady: { $0.locked() != 0 })
    }

    #if arch(x86_64)
    @Test("hijacked returns: no return address is taken through a library's frame-pointer register, which may hold data",
          .timeLimit(.hang))
    func hijackTrustsOnlyFramePointerCode() throws {
        // The library keeps a copy of its frame record on its stack and points
        // rbp at it: exactly what a walk that trusted the register would take
        // for the innermost frame returning into our code. Overwriting it with
        // the trampoline's address would corrupt the library's data.
        let library = try HazardLibrary.shared.get()
        let word = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
        word.initialize(to: 0)
        defer { word.deallocate() }
        let wordAddress = Int(bitPattern: word)
        let thread = try KillableThread(name: "fake-frame") { ctx -> Int32 in
            var written: Int32 = -1
            do {
                try ctx.asyncKillable {
                    written = library.fakeFrameSpin(UnsafeMutablePointer(bitPattern: wordAddress))
                    while true { _ = spin(iterations: 1000) }
                }
            } catch is KillError {}
            return written
        }
        eventually("inside the library") { CPthreadShim_word_load(UnsafeMutableRawPointer(word).assumingMemoryBound(to: UInt32.self)) == 1 }
        try interruptAndAwaitHandler(thread)
        eventually("a few declines with the PC in the library") {
            (thread.ref.injectionStatistics.declines[.foreignCode] ?? 0) >= 3
        }
        CPthreadShim_word_store(UnsafeMutableRawPointer(word).assumingMemoryBound(to: UInt32.self), 2)
        // The body returns only once the kill has landed (its loop is endless).
        #expect(try thread.joinOrFail().value == 0, "the library's copy of its frame record is intact")
    }

    @Test("hijacked returns: the interrupted frame is unwound by its unwind table, never through a frame pointer its caller may have left holding data",
          .timeLimit(.hang))
    func hijackUnwindsTheInterruptedFrameByItsTable() throws {
        // Our own frameless callback (it never sets rbp up) called by a library
        // whose rbp points at a copy of its frame record: a walk that trusted
        // rbp because the PC is in our code would take the copy for a record.
        let library = try HazardLibrary.shared.get()
        tk_test_reset()
        let thread = try KillableThread(name: "fake-frame-cb") { ctx -> Int32 in
            var written: Int32 = -1
            do {
                try ctx.asyncKillable {
                    written = library.fakeFrameCall(tk_test_spin_frameless)
                    while true { _ = spin(iterations: 1000) }
                }
            } catch is KillError {}
            return written
        }
        eventually("inside the callback") { tk_test_inside() != 0 }
        try interruptAndAwaitHandler(thread)
        eventually("a few declines in the callback") { thread.ref.injectionStatistics.totalDeclines >= 3 }
        tk_test_release()
        #expect(try thread.joinOrFail().value == 0, "the library's copy of its frame record is intact")
    }

    @Test("hijacked returns: a kill lands at memchr's return even where the stack top looks like a prologue's (own rbp, then a libc address)",
          .timeLimit(.hang))
    func hijackLandsWhereStackWordsMislead() throws {
        // Every signal finds the thread in memchr (declined: foreign code) or in
        // the loop, whose stack top looks like a callback's prologue (declined:
        // stack words). Only a hijacked return can land the kill; it once never
        // did, because the return site was judged as if it were a prologue.
        tk_test_reset()
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 1 << 14, alignment: 64)
        memset(buffer, 0, 1 << 14)
        defer { buffer.deallocate() }
        let address = UInt(bitPattern: buffer)
        let thread = try KillableThread(name: "stale-words") { ctx -> Bool in
            do {
                try ctx.asyncKillable { tk_test_memchr_loop_stale_words(UnsafeRawPointer(bitPattern: address)!, 1 << 14) }
            } catch is KillError {
                return true
            }
            return false
        }
        eventually("inside the loop") { tk_test_inside() != 0 }
        try thread.interrupt()
        let landed = try thread.join(timeout: .seconds(10))
        if landed == nil { tk_test_release() }  // never landed: let the loop return
        #expect(landed?.value == true, "the kill did not land within 10 s")
        #expect(try thread.joinOrFail().value == true)
        #expect(thread.ref.injectionStatistics.jumpsOnReturn == 1, "\(thread.ref.injectionStatistics)")
    }
    #endif

    @Test("stack words: a callback caught in its prologue, under a library holding its lock, is not jumped out of",
          .timeLimit(.hang))
    func stackWords() throws {
        // Our own code with no frame: the library's return address is on top
        // of the stack, not yet in the frame chain.
        try expectNoJumpOutOfLibrary("stack-words", ready: "inside the callback",
                                     { $0.callLocked(tk_test_spin_frameless) },
                                     isReady: { tk_test_inside() != 0 && $0.locked() != 0 })
    }

    @Test("frame walk: a callback two frames above a library holding its lock is not jumped out of",
          .timeLimit(.hang))
    func frameWalk() throws {
        // callback (own, framed) -> spin (own, framed): the library's return
        // address is two frames down, far from the stack top.
        try expectNoJumpOutOfLibrary("frame-walk", ready: "inside the callback",
                                     { $0.callLocked(tk_test_callback_deep) },
                                     isReady: { tk_test_inside() != 0 && $0.locked() != 0 })
    }

    @Test("signal mask: a section that blocked a signal to guard a lock it shares with that signal's handler is not jumped out of",
          .timeLimit(.hang))
    func signalMask() throws {
        // The classic async-signal-safe pattern: block SIGUSR2, take a lock a
        // SIGUSR2 handler also takes, release it, unblock. All own code, no
        // library, no ThreadKill mask. A jump would restore the region's mask
        // (SIGUSR2 unblocked) with the lock held: the next handler deadlocks.
        let sectionLock = Atomic(false)
        tk_test_reset()
        let thread = try KillableThread(name: "sigmask") { ctx in
            var usr2 = sigset_t()
            sigemptyset(&usr2)
            sigaddset(&usr2, SIGUSR2)
            // A thread inherits its creator's mask; the test runner's threads may block SIGUSR2.
            pthread_sigmask(SIG_UNBLOCK, &usr2, nil)
            try ctx.asyncKillable {
                pthread_sigmask(SIG_BLOCK, &usr2, nil)
                sectionLock.store(true, ordering: .releasing)
                tk_test_callback_deep()  // own code with plain frames: nothing else for a check to object to
                sectionLock.store(false, ordering: .releasing)
                pthread_sigmask(SIG_UNBLOCK, &usr2, nil)
                while true { _ = spin(iterations: 1000) }
            }
        }
        eventually("inside the section") { tk_test_inside() != 0 }
        try interruptAndAwaitHandler(thread)
        tk_test_release()
        #expect(try thread.joinOrFail().report?.reason == .interrupted)
        let held = sectionLock.load(ordering: .acquiring)
        #expect(!held, "the section's lock is free: a jump would have left it held, SIGUSR2 unblocked")
    }

    @Test("exclusivity: a kill during a Swift exclusive access waits until it ends; the runtime's access set survives (child process)",
          .timeLimit(.hang))
    func exclusivity() throws {
        let (status, output) = try runFixture(["hazard", "exclusivity"])
        #expect(status == 0 && output.hasSuffix("ok\n"), "the fixture crashed or failed: status \(status), output \(output)")
    }

    @Test("hijacked returns: the checks run again at the return — a runtime call returning inside an exclusive access is not landed in (child process)",
          .timeLimit(.hang))
    func hijackRechecksAtReturn() throws {
        let (status, output) = try runFixture(["hazard", "exclusivity-return"])
        #expect(status == 0 && output.hasSuffix("ok\n"), "the fixture crashed or failed: status \(status), output \(output)")
    }

    @Test("each cleanup runs exactly once, to its end: a resend during a region's cleanup cannot jump to an outer region",
          .timeLimit(.hang))
    func cleanupRunsOnceToItsEnd() throws {
        let log = Mutex<[String]>([])
        let entered = Latch()
        tk_test_reset()
        let thread = try KillableThread(name: "nested") { ctx in
            try ctx.asyncKillable {
                ctx.onKill { log.withLock { $0.append("outer cleanup") } }
                do {
                    try ctx.asyncKillable {
                        ctx.onKill {
                            log.withLock { $0.append("inner cleanup start") }
                            tk_test_callback_deep()  // own code with plain frames, until released
                            log.withLock { $0.append("inner cleanup end") }
                        }
                        entered.open()
                        while true { _ = spin(iterations: 1000) }
                    }
                } catch is KillError {
                    log.withLock { $0.append("inner kill caught") }
                }
                log.withLock { $0.append("outer body end") }
            }
        }
        entered.wait()
        try thread.interrupt()
        eventually("the inner cleanup runs") { tk_test_inside() != 0 }
        // The kill is still pending while the cleanup runs, so the watchdog
        // resends: wait for one more handler run before letting it finish.
        let before = handledSignals(thread)
        eventually("a resend reached the thread during the cleanup") { handledSignals(thread) > before }
        tk_test_release()
        _ = try thread.joinOrFail()
        #expect(log.withLock { $0 } == ["inner cleanup start", "inner cleanup end", "inner kill caught", "outer body end", "outer cleanup"])
    }

    @Test("each cleanup runs exactly once, to its end: a kill during the cleanup of a region that ended normally cannot jump to an outer region",
          .timeLimit(.hang))
    func cleanupOfNormalEndRunsToItsEnd() throws {
        let log = Mutex<[String]>([])
        tk_test_reset()
        let thread = try KillableThread(name: "nested-end") { ctx in
            try ctx.asyncKillable {
                ctx.onKill { log.withLock { $0.append("outer cleanup") } }
                try ctx.asyncKillable {
                    ctx.onKill {
                        log.withLock { $0.append("inner cleanup start") }
                        tk_test_callback_deep()  // own code with plain frames, until released
                        log.withLock { $0.append("inner cleanup end") }
                    }
                }  // ends normally: its cleanup runs here, with the outer region armed
                while true { _ = spin(iterations: 1000) }
            }
        }
        eventually("the inner cleanup runs") { tk_test_inside() != 0 }
        try interruptAndAwaitHandler(thread)  // the handler judged the cleanup
        tk_test_release()
        _ = try thread.joinOrFail()
        #expect(log.withLock { $0 } == ["inner cleanup start", "inner cleanup end", "outer cleanup"])
    }
}

@Suite("Signal rules", .serialized,
       .disabled(under: .thread, because: "TSan defers signals to its own points: a blocked thread never runs the handler (Docs/Sanitizers.md)"))
struct SignalRuleTests {
    @Test("one signal in flight: 200 kills sent to a thread that keeps the signal blocked queue at most one signal",
          .timeLimit(.hang))
    func oneSignalInFlight() throws {
        let ready = Latch()
        let release = Atomic(false)
        let queued = Atomic(-1)
        let thread = try KillableThread(name: "sig-blocked") { ctx in
            // Ordinary code: ThreadKill's signal stays blocked here, and a
            // masked kill waits for the end of the mask.
            try ctx.masked {
                ready.open()
                while !release.load(ordering: .acquiring) { sched_yield() }
                // Count the instances of the signal queued for this thread.
                var set = sigset_t()
                sigemptyset(&set)
                sigaddset(&set, KillableThreads.signal!.rawValue)
                var now = timespec(tv_sec: 0, tv_nsec: 0)
                var count = 0
                while sigtimedwait(&set, nil, &now) > 0 { count += 1 }
                queued.store(count, ordering: .releasing)
            }
        }
        ready.wait()
        for _ in 0..<200 { try thread.interrupt() }
        release.store(true, ordering: .releasing)
        #expect(try thread.joinOrFail().report?.reason == .interrupted)
        let count = queued.load(ordering: .acquiring)
        #expect(count == 1, "\(count) signals were queued for one pending kill (a storm when it unblocks)")
    }

    @Test("the cancellable-syscall stub: a kill wakes a read already blocked in the kernel (the restarted syscall is redirected)",
          .timeLimit(.hang))
    func stubRedirectsBlockedSyscall() throws {
        let pipe = Pipe()
        let tid = Atomic<Int32>(0)
        let thread = try KillableThread(name: "blocked-read") { ctx in
            tid.store(CPthreadShim_gettid(), ordering: .releasing)
            var byte: UInt8 = 0
            _ = try withUnsafeMutableBytes(of: &byte) { try ctx.read(pipe.read, into: $0) }
        }
        eventually("started") { tid.load(ordering: .acquiring) != 0 }
        // Past the stub's check of the kill word: blocked in the kernel.
        waitUntilInSyscall(tid: tid.load(ordering: .acquiring), Int(CPthreadShim_SYS_read))
        try thread.interrupt()
        let outcome = try thread.join(timeout: .seconds(10))
        #expect(outcome?.report?.reason == .interrupted, "the blocked read was not woken: the kill is lost")
        if outcome == nil {  // free the stuck read, so the thread can end
            _ = withUnsafeBytes(of: UInt8(1)) { Glibc.write(pipe.write, $0.baseAddress, 1) }
            _ = try thread.joinOrFail()
        }
    }

    @Test("the exit gate: a thread cannot finish while a sender holds a reference to it", .timeLimit(.hang))
    func exitGateDrainsSenders() throws {
        let finish = Latch()
        let thread = try KillableThread(name: "gate") { _ in finish.wait() }
        let core = thread.ref.core
        eventually("running") { core.lifecycle == .running }
        let seen = core.withRunningThread { pthread -> ThreadCore.Lifecycle in
            // A sender holds its reference (as around pthread_kill). The body ends...
            finish.open()
            eventually("the thread reaches its exit gate") { core.lifecycle != .running }
            // ...and the thread must wait in the gate, alive: its CPU clock runs on.
            var start: Int64 = -1
            eventually("the thread waits in the gate or finishes") {
                if core.lifecycle == .finished { return true }
                let now = CPthreadShim_thread_cpu_nanos(pthread)
                if start < 0 { start = now }
                return now - start >= 2_000_000
            }
            return core.lifecycle
        }
        #expect(seen == .exiting, "the thread finished while a sender held a reference: its pthread_kill could reach an exited or reused thread")
        #expect(try thread.joinOrFail().value != nil)
    }

    @Test("a finished thread is never a target: a signal for it never reaches the thread that reuses its pthread_t",
          .timeLimit(.hang))
    func finishedThreadNeverTargeted() throws {
        let finished = try KillableThread(name: "finished") { _ in pthread_self() }
        let old = try #require(try finished.joinOrFail().value)
        // glibc hands a finished thread's pthread_t (its cached stack) to the next thread.
        let pipe = Pipe()
        var reuser: KillableThread<Void>?
        var reuserTid: Int32 = 0
        for _ in 0..<50 where reuser == nil {
            let identity = Mutex<(pthread_t, Int32)?>(nil)
            let candidate = try KillableThread(name: "reuser") { ctx in
                identity.withLock { $0 = (pthread_self(), CPthreadShim_gettid()) }
                var byte: UInt8 = 0
                _ = try withUnsafeMutableBytes(of: &byte) { try ctx.read(pipe.read, into: $0) }
            }
            eventually("started") { identity.withLock { $0 } != nil }
            let (pthread, tid) = identity.withLock { $0 }!
            if pthread_equal(pthread, old) != 0 {
                reuser = candidate
                reuserTid = tid
            } else {
                _ = try candidate.stop(grace: .seconds(20))  // its read wakes for the stop
            }
        }
        let target = try #require(reuser, "no thread reused the finished thread's pthread_t in 50 starts")
        waitUntilInSyscall(tid: reuserTid, Int(CPthreadShim_SYS_read))
        // A sender that checked the finished thread a moment before it ended:
        #expect(!finished.ref.core.kick(), "no signal is sent for a finished thread")
        // The reuser's own protocol must be intact: one signal of its own is
        // sent and handled, and then a kill still wakes its blocked read.
        let probe = target.ref.core.kick()
        eventually("the reuser handled its signals") { handledSignals(target) >= 1 }
        try target.interrupt()
        let outcome = try target.join(timeout: .seconds(15))
        #expect(outcome?.report?.reason == .interrupted,
                "the reuser's kill was lost (probe sent: \(probe)): a stray signal for the finished thread broke its one-in-flight count")
        if outcome == nil {  // free the stuck read, so the thread can end
            _ = withUnsafeBytes(of: UInt8(1)) { Glibc.write(pipe.write, $0.baseAddress, 1) }
            _ = try target.joinOrFail()
        }
    }
}
