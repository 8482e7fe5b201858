#if canImport(Glibc)
import Glibc
#endif
import ThreadKill

/// `stuck-callback exit|shutdown`: a non-daemon thread whose stop callback
/// never returns. `exit` returns from main (the exit policy's ladder must end
/// within its grace); `shutdown` calls `ThreadKill.shutdown(grace:)` and
/// prints its report. Either way the program must end promptly.
func stuckCallbackScenario(_ mode: String) throws {
    ThreadKill.exitPolicy = ExitPolicy(waitForNonDaemon: .zero, stopGrace: .milliseconds(300))
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
        let report = try ThreadKill.shutdown(grace: .milliseconds(300))
        say("\(report.threads.map { "\($0.report.stopped) \($0.report.stopCallbacksStillRunning)" }.joined(separator: ","))")
        _exit(0)
    }
    _ = worker  // returning from main: the atexit hook applies the exit policy
}
