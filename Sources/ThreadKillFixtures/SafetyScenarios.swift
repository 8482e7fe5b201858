#if canImport(Glibc)
import Glibc
#endif
import CPthreadShim
import ThreadKill
import ThreadKillStress
import ThreadKillTestSupport
import Synchronization

/// `stuck-callback exit|shutdown`: a non-daemon thread whose stop callback
/// never returns. `exit` returns from main (the exit policy's ladder must end
/// within its grace); `shutdown` calls `KillableThreads.shutdown(grace:)` and
/// prints its report. Either way the program must end promptly.
func stuckCallbackScenario(_ mode: String) throws {
    KillableThreads.exitPolicy = ExitPolicy(waitForNonDaemon: .zero, stopGrace: .milliseconds(300))
    let started = Monitor<StopCallback?>(nil)
    let worker = try KillableThread(name: "worker") { ctx in
        // Kept outside the thread: dropping a registration waits for its callback.
        let registration = ctx.stopToken.onStop {
            var ts = timespec(tv_sec: 3600, tv_nsec: 0)
            while true { nanosleep(&ts, nil) }  // a callback that never returns
        }
        started.withLock { $0 = registration }
        while true { try ctx.sleep(for: .seconds(3600)) }
    }
    let waiter = try KillableThread { ctx in _ = try ctx.wait(on: started, until: { $0 != nil }) { _ in } }
    _ = try waiter.join()
    say("ready")
    if mode == "shutdown" {
        let report = try KillableThreads.shutdown(grace: .milliseconds(300))
        say("\(report.threads.map { "\($0.report.stopped) \($0.report.stopCallbacksStillRunning)" }.joined(separator: ","))")
        _exit(0)
    }
    _ = worker  // returning from main: the atexit hook applies the exit policy
}

/// `fork`: a live killable thread, then `fork()`. The child reports what it
/// sees (one line each), starts and kills threads of its own (the watchdog
/// must come back for a CPU budget), and exits through the exit policy; the
/// parent prints how long the child took to exit.
func forkScenario() throws {
    KillableThreads.exitPolicy = ExitPolicy(waitForNonDaemon: .seconds(10), stopGrace: .seconds(2))
    let parentTid = Atomic<Int32>(0)
    let parentThread = try KillableThread(name: "parent-only") { ctx in
        parentTid.store(CPthreadShim_gettid(), ordering: .releasing)
        while true { try ctx.sleep(for: .seconds(3600)) }
    }
    // Use the watchdog in the parent first, so its thread exists at the fork.
    let budgeted = try KillableThread(name: "budget", cpuBudget: .milliseconds(5)) { ctx in
        while true { try ctx.checkpoint() }
    }
    _ = try budgeted.join()
    // The child runs Swift code: fork only while no other thread does (a
    // lock of the Swift runtime held at the fork stays held in the child;
    // Docs/Fork.md). The parent's thread asleep in its futex wait, the
    // watchdog asleep with nothing to do.
    while !isInSyscall(tid: parentTid.load(ordering: .acquiring), Int(SYS_futex)) || !watchdogIdle() { sched_yield() }  // tid 0 is in no syscall
    let started = monotonicMillis()
    let pid = fork()
    if pid == 0 {
        say("live threads: \(KillableThreads.liveThreads.count)")
        do { try parentThread.interrupt(); say("interrupt: succeeded") } catch { say("interrupt: \(error.code)") }
        do { _ = try parentThread.join(timeout: .zero); say("join: returned") } catch { say("join: \(error.code)") }
        let own = try KillableThread(name: "child-budget", cpuBudget: .milliseconds(5)) { ctx in
            while true { try ctx.checkpoint() }
        }
        say("child thread: \(try own.join(timeout: .seconds(20)).map { "\($0.report?.reason.rawValue ?? "?")" } ?? "still running")")
        exit(0)  // the exit policy: must not wait for the parent's thread
    }
    var status: Int32 = 0
    waitpid(pid, &status, 0)
    let elapsed = monotonicMillis() - started
    say("child exited \(status == 0 ? "cleanly" : "with status \(status)") \(elapsed < 5_000 ? "promptly" : "after \(elapsed) ms")")
    _ = try parentThread.stop(grace: .seconds(5))
}

private func monotonicMillis() -> Int {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec * 1000 + ts.tv_nsec / 1_000_000
}

/// `duration-extremes`: the process-wide settings that take a `Duration`, at
/// .zero, 1 ns, .seconds(Int64.max) and negative (where a negative value is a
/// typed error rather than a documented precondition). One line each.
func durationExtremesScenario() throws {
    let labels: [(String, Duration)] = [("0", .zero), ("1 ns", .nanoseconds(1)), ("max", .seconds(Int64.max))]
    for (label, window) in labels {
        KillableThreads.resendWindow = window
        let thread = try KillableThread(name: "resend") { ctx in while true { try ctx.sleep(for: .seconds(3600)) } }
        try thread.interrupt()
        say("resendWindow \(label): \(try thread.join().report?.reason.rawValue ?? "not killed")")
    }
    KillableThreads.resendWindow = .seconds(5)
    for (label, grace) in labels {
        let thread = try KillableThread(name: "shutdown") { ctx in while true { try ctx.sleep(for: .seconds(3600)) } }
        let report = try KillableThreads.shutdown(grace: grace)
        _ = try thread.stop(grace: .seconds(20))
        say("shutdown \(label): \(label == "max" ? "\(report)" : "ok")")
    }
    do { _ = try KillableThreads.shutdown(grace: .nanoseconds(-1)); say("shutdown negative: accepted") } catch { say("shutdown negative: \(error.code)") }
    do { try KillableThreads.handleTerminationSignals(grace: .nanoseconds(-1)); say("handleTerminationSignals negative: accepted") } catch { say("handleTerminationSignals negative: \(error.code)") }
    try KillableThreads.handleTerminationSignals(grace: .seconds(Int64.max))
    say("handleTerminationSignals max: ok")
}

/// `pays-nothing`: a program that links ThreadKill and uses it without ever
/// starting a killable thread must pay nothing: no signal handler, no
/// thread, no blocked signal. Prints what it finds.
func paysNothingScenario() {
    var before = sigset_t()
    pthread_sigmask(SIG_BLOCK, nil, &before)  // inherited from whoever started us
    let source = StopSource()  // uses the library, kills nothing
    source.requestStop()
    _ = KillableThreads.liveThreads
    var handlers = 0
    for sig in CPthreadShim_sigrtmin()...CPthreadShim_sigrtmax() where CPthreadShim_signal_state(sig) != 0 { handlers += 1 }
    var blocked = sigset_t()
    pthread_sigmask(SIG_BLOCK, nil, &blocked)
    var blockedCount = 0  // blocked now that were not before
    for sig in 1...CPthreadShim_sigrtmax() where sigismember(&blocked, sig) == 1 && sigismember(&before, sig) == 0 { blockedCount += 1 }
    let tasks = ProcSelf.threadCount
    say("handlers \(handlers), blocked signals \(blockedCount), threads \(tasks), signal \(KillableThreads.signal.map { "\($0.rawValue)" } ?? "none")")
}

/// `tick-timers`: threads with a trace tick start and end; prints how many
/// POSIX timers the process still has (`/proc/self/timers`): none may be left.
func tickTimersScenario() throws {
    for _ in 0..<3 {
        let thread = try KillableThread(name: "ticking", tick: .milliseconds(1)) { ctx in
            try ctx.sleep(for: .milliseconds(5))
        }
        _ = try thread.join()
    }
    var timers = 0
    if let file = fopen("/proc/self/timers", "r") {
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, 256, file) != nil {
            if line.starts(with: [CChar(UInt8(ascii: "I")), CChar(UInt8(ascii: "D")), CChar(UInt8(ascii: ":"))]) { timers += 1 }
        }
        fclose(file)
        say("timers left: \(timers)")
    } else {
        say("timers left: unknown")
    }
}
