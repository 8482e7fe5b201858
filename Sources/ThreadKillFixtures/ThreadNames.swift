// `thread-names`: starts every kind of thread ThreadKill starts, prints the
// names the kernel shows for this process's threads, then (after SIGTERM) the
// names while the shutdown runs. For EdgeTests' thread-name test: a child
// process, since it installs signal handling and counts every thread.
#if canImport(Glibc)
import Glibc
#endif
import CThreadKillTestSupport
import Synchronization
import ThreadKill
import ThreadKillTestSupport

func threadNamesScenario() throws {
    // The signal waiter first: later threads inherit SIGINT/SIGTERM blocked.
    try KillableThreads.handleTerminationSignals(grace: .seconds(10))
    // A CPU budget starts the watchdog.
    let budgeted = try KillableThread(name: "tk-budgeted", cpuBudget: .seconds(3600)) { ctx in
        while true { try ctx.sleep(for: .seconds(3600)) }
    }
    // A spawn starts the spawner.
    let value = try IsolatedProcess.run(FixtureJob.double, input: 21, timeout: .seconds(30))
    guard value == 42 else { throw FixtureError(detail: "double(21) = \(value)") }
    // A cancellable C call starts a helper thread for the call.
    let helperRunning = Atomic(false)
    let caller = try KillableThread(name: "tk-cancellable") { ctx in
        ctx.onKill { say("shutdown names: " + threadNames().sorted().joined(separator: ",")) }
        helperRunning.store(true, ordering: .releasing)
        var micros = 3_600_000_000
        _ = try withUnsafeMutablePointer(to: &micros) { try ctx.cancellableCall(tk_test_leaf_usleep, argument: $0) }
    }
    let deadline = ContinuousClock.now + .seconds(30)
    while !helperRunning.load(ordering: .acquiring) || threadNames().filter({ $0 == "tk-cancellable" }).count < 2 {
        if ContinuousClock.now > deadline { throw FixtureError(detail: "the cancellable call's helper did not start") }
        sched_yield()
    }
    say("names: " + threadNames().sorted().joined(separator: ","))
    say("ready")
    // SIGTERM from the test: the shutdown runner stops both threads (the
    // caller's cleanup prints the names meanwhile) and exits with 128 + 15.
    _ = try budgeted.join()
    _ = try caller.join()
    var ts = timespec(tv_sec: 3600, tv_nsec: 0)
    while true { nanosleep(&ts, nil) }
}
