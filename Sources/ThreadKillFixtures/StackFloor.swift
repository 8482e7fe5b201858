// `stack-floor SIZE`: the smallest-stack scenario for KillableThreadTests'
// stack-size boundary test. It runs in a child process because a stack that is
// too small crashes the whole process, not just the thread.
#if canImport(Glibc)
import Glibc
#endif
import CPthreadShim
import Synchronization
import ThreadKill
import ThreadKillTestSupport

/// Spins (yielding) until `condition` holds; exits with status 3 after 30 s.
private func waitFor(_ what: String, _ condition: () -> Bool) {
    let deadline = monotonicSeconds() + 30
    while !condition() {
        if monotonicSeconds() > deadline {
            say("timed out waiting for \(what)")
            exit(3)
        }
        sched_yield()
    }
}

private func monotonicSeconds() -> Int {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec
}

/// Burns CPU in the program's own code, with no delivery point.
@inline(never)
private func spinForever() -> Int {
    var x = 0
    var j = 0
    while true {
        x = x &* 31 &+ j
        j &+= 1
        if x == 42 && j == 0 { return x }
    }
}

/// Starts a killable thread with `stackSize` bytes of stack (the first one in
/// this process, so the Swift runtime's first-use work runs on it too) and
/// makes it take every kind of kill that runs code on its stack: the signal
/// handler waking an interruptible `read`, the handler turning a foreign
/// `read` in a blocking region into `EINTR`, the handler jumping out of an
/// async region, a stop waking a sleep and thrown again at a checkpoint; with
/// a cleanup registered. Prints "refused CODE", or what it saw.
func stackFloorScenario(_ argument: String) {
    guard let size = Int(argument) else {
        say("usage: stack-floor SIZE")
        exit(2)
    }
    var fds: [Int32] = [0, 0]
    guard pipe(&fds) == 0 else { exit(2) }
    let readFD = fds[0]
    let tid = Atomic<Int32>(0)
    let step = Atomic<Int>(0)
    let cleanups = Atomic<Int>(0)
    let interrupts = Atomic<Int>(0)
    let thread: KillableThread<String>
    do {
        thread = try KillableThread(name: "stack-floor", stackSize: size) { ctx -> String in
            ctx.onKill { cleanups.add(1, ordering: .relaxed) }
            tid.store(CPthreadShim_gettid(), ordering: .releasing)
            var byte: UInt8 = 0
            step.store(1, ordering: .releasing)
            do {
                _ = try withUnsafeMutableBytes(of: &byte) { try ctx.read(readFD, into: $0) }
            } catch let kill as KillError where kill.reason == .interrupted { interrupts.add(1, ordering: .relaxed) }
            step.store(2, ordering: .releasing)
            do {
                try ctx.blocking { _ = Glibc.read(readFD, &byte, 1) }
            } catch let kill as KillError where kill.reason == .interrupted { interrupts.add(1, ordering: .relaxed) }
            step.store(3, ordering: .releasing)
            do {
                _ = try ctx.asyncKillable { spinForever() }
            } catch let kill as KillError where kill.reason == .interrupted {
                interrupts.add(1, ordering: .relaxed)
            } catch let error as ThreadKillError where error.code == .injectionUnavailable {
                // Sanitizer builds: the interrupt is thrown by the sleep below instead.
                do { try ctx.sleep(for: .seconds(3600)) } catch let kill as KillError where kill.reason == .interrupted {
                    interrupts.add(1, ordering: .relaxed)
                }
            }
            step.store(4, ordering: .releasing)
            do { try ctx.sleep(for: .seconds(3600)) } catch let kill as KillError where kill.reason == .stopRequested {}
            try ctx.checkpoint()  // the stop is sticky: thrown again here
            return "returned"
        }
    } catch {
        say("refused \(error.code)")
        return
    }
    waitFor("the thread's tid") { tid.load(ordering: .acquiring) != 0 }
    let id = tid.load(ordering: .acquiring)
    // Each interrupt is sent while the thread is blocked in the kernel (or,
    // for the async region, running its own code), so the handler runs on its stack.
    waitFor("the interruptible read") { step.load(ordering: .acquiring) == 1 && isInSyscall(tid: id, Int(CPthreadShim_SYS_read)) }
    do { try thread.interrupt() } catch { say("interrupt failed: \(error)"); exit(4) }
    waitFor("the foreign read") { step.load(ordering: .acquiring) == 2 && isInSyscall(tid: id, Int(CPthreadShim_SYS_read)) }
    do { try thread.interrupt() } catch { say("interrupt failed: \(error)"); exit(4) }
    waitFor("the async region") { step.load(ordering: .acquiring) >= 3 }
    do { try thread.interrupt() } catch { say("interrupt failed: \(error)"); exit(4) }
    waitFor("the sleep") { step.load(ordering: .acquiring) == 4 && isInSyscall(tid: id, Int(SYS_futex)) }
    do { try thread.requestStop() } catch { say("requestStop failed: \(error)"); exit(4) }
    let outcome: Outcome<String>
    do { outcome = try thread.join() } catch { say("join failed: \(error)"); exit(4) }
    guard outcome.report?.reason == .stopRequested else {
        say("unexpected outcome \(outcome)")
        exit(5)
    }
    say("stopped, interrupts \(interrupts.load(ordering: .relaxed)), cleanups \(cleanups.load(ordering: .relaxed))")
}
