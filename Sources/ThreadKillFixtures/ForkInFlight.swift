// `fork-in-flight`: a killable thread forks while a signal sent to it is still
// in flight. It was interrupted while it spun with the library's signal
// blocked (outside every receptive window), took the interrupt at a
// checkpoint, and forked before any window let the signal in. A forked child
// starts with no signal pending, so that one is gone there; senders, which
// send only when the previous signal was handled, must not wait for it.
//
// In the child the thread blocks in `ctx.read` and a second thread
// interrupts it. Prints "child: interrupted" (the read woke), or, from the
// parent after 10 s, "child: hung"; then "parent: done".
#if canImport(Glibc)
import Glibc
#endif
import CPthreadShim
import Synchronization
import ThreadKill
import ThreadKillStress
import ThreadKillTestSupport

func forkInFlightScenario() throws {
    let go = Atomic(false)
    // The fork waits until no other thread runs Swift code: the main thread
    // parked in a loop of atomic loads and sched_yield, the watchdog asleep
    // with nothing to resend. A thread inside the Swift runtime at the fork
    // (instantiating generic metadata, say) leaves its lock held in the child
    // for ever (seen under ASan, 3 runs in 120: the child's first metadata
    // lookup hung).
    let parked = Atomic(false), forked = Atomic(false)
    let spinning = Atomic<Int32>(0)  // the thread's kernel id, once it spins
    let target = Mutex<ThreadRef?>(nil)
    let thread = try KillableThread(name: "forker") { ctx -> String in
        spinning.store(CPthreadShim_gettid(), ordering: .releasing)
        while !go.load(ordering: .acquiring) {}  // no delivery point: the signal stays blocked
        do {
            try ctx.checkpoint()
            return "the interrupt was not pending"
        } catch is KillError {}  // taken; its signal is still in flight
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { return "pipe: errno \(errno)" }
        let survivor = target.withLock { $0 }!
        while !parked.load(ordering: .acquiring) || !watchdogIdle() { sched_yield() }
        let pid = fork()
        if pid == 0 {
            childReads(fds[0], ctx: ctx, interruptedBy: survivor)
        }
        forked.store(true, ordering: .releasing)
        return waitForChild(pid)
    }
    target.withLock { $0 = thread.ref }
    while spinning.load(ordering: .acquiring) == 0 { sched_yield() }
    try thread.interrupt()  // sent now; blocked until a receptive window, which never comes
    let tid = spinning.load(ordering: .acquiring)
    while !signalPending(tid: tid) { sched_yield() }
    go.store(true, ordering: .releasing)
    parked.store(true, ordering: .releasing)
    while !forked.load(ordering: .acquiring) { sched_yield() }
    say("parent: \(try thread.join().value ?? "no value")")
}

/// In the child, on its only thread (the one that forked): blocks in
/// `ctx.read` while a new killable thread interrupts it. Never returns.
private func childReads(_ fd: Int32, ctx: KillContext, interruptedBy survivor: ThreadRef) -> Never {
    let tid = getpid()  // the child's only thread
    do {
        _ = try KillableThread(name: "interrupter") { _ in
            while !isInSyscall(tid: tid, Int(CPthreadShim_SYS_read)) { sched_yield() }
            try survivor.interrupt()
        }
        var byte: UInt8 = 0
        _ = try withUnsafeMutableBytes(of: &byte) { try ctx.read(fd, into: $0) }
        say("child: read returned")
        exit(1)
    } catch let kill as KillError {
        say("child: \(kill.reason.rawValue)")
        exit(0)
    } catch {
        say("child: \(error)")
        exit(1)
    }
}

/// Whether thread `tid` has a signal pending for it alone (SigPnd in its status).
private func signalPending(tid: Int32) -> Bool {
    statusField("/proc/self/task/\(tid)/status", "SigPnd").flatMap { UInt64($0, radix: 16) }.map { $0 != 0 } ?? false
}

/// Waits up to 10 s for the child, then kills it.
private func waitForChild(_ pid: pid_t) -> String {
    var status: Int32 = 0
    let deadline = ContinuousClock.now + .seconds(10)
    while waitpid(pid, &status, WNOHANG) == 0 {
        if ContinuousClock.now > deadline {
            say("child: hung")
            kill(pid, SIGKILL)
            waitpid(pid, &status, 0)
            return "done"
        }
        usleep(1000)
    }
    return "done"
}
