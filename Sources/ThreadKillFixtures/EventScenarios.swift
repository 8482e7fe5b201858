#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import ThreadKill

/// Burns a little CPU in the program's own code.
@inline(never)
private func busyWork() -> Int {
    var x = 0
    for j in 0..<1000 { x = x &* 31 &+ j }
    return x
}

/// Yields until `condition` holds; exits with status 2 after 30 s.
private func waitFor(_ what: String, _ condition: () -> Bool) {
    let deadline = ContinuousClock.now + .seconds(30)
    while !condition() {
        if ContinuousClock.now > deadline {
            say("timed out waiting for \(what)")
            exit(2)
        }
        sched_yield()
    }
}

/// `events`: the kill events that only a whole process shows, printed by an
/// event hook as "kind thread (detail)": a kill declined until the watchdog
/// gives up resending it, a replaced signal handler, and an exit-policy stop.
/// Process-wide settings (the resend window, the signal's disposition) are
/// why this runs in a child of its own.
func eventScenario() throws {
    let printed = Mutex<[KillEvent.Kind]>([])
    KillableThreads.eventHook = { event in
        var line = "\(event.kind)"
        if let thread = event.thread { line += " \(thread.name)" }
        if let reason = event.declineReason { line += " (\(reason.rawValue))" }
        say(line)
        printed.withLock { $0.append(event.kind) }
    }
    KillableThreads.resendWindow = .milliseconds(50)
    KillableThreads.exitPolicy = ExitPolicy(waitForNonDaemon: .zero, stopGrace: .seconds(10))

    // 1. An interrupt declined (masked, in an async region) until the watchdog gives up.
    let masked = Atomic(false), release = Atomic(false)
    let stuck = try KillableThread(name: "stuck") { ctx in
        try ctx.asyncKillable {
            try ctx.masked {
                masked.store(true, ordering: .releasing)
                while !release.load(ordering: .acquiring) { _ = busyWork() }
            }
        }
    }
    waitFor("the masked region") { masked.load(ordering: .acquiring) }
    try stuck.interrupt()
    waitFor("the resends to be abandoned") { printed.withLock { $0.contains(.resendsAbandoned) } }
    release.store(true, ordering: .releasing)  // the mask ends: the interrupt is delivered
    _ = try stuck.join()

    // 2. Someone ignores ThreadKill's signal: a kill resent for the whole window
    // without landing makes the watchdog look, and notice.
    signal(KillableThreads.signal!.rawValue, SIG_IGN)
    let blindRunning = Atomic(false), blindRelease = Atomic(false)
    let blind = try KillableThread(name: "blind") { ctx in
        try ctx.asyncKillable {
            blindRunning.store(true, ordering: .releasing)
            while !blindRelease.load(ordering: .acquiring) { _ = busyWork() }
        }
    }
    waitFor("the blind region") { blindRunning.load(ordering: .acquiring) }
    try blind.interrupt()
    waitFor("the replaced handler to be reported") { printed.withLock { $0.contains(.signalHandlerReplaced) } }
    blindRelease.store(true, ordering: .releasing)
    _ = try blind.join()

    // 3. A non-daemon thread still sleeping when main returns: the exit policy stops it.
    let sleeping = Atomic(false)
    let sleeper = try KillableThread(name: "sleeper") { ctx in
        sleeping.store(true, ordering: .releasing)
        try ctx.sleep(for: .seconds(3600))
    }
    waitFor("the sleeper") { sleeping.load(ordering: .acquiring) }
    say("exiting")
    _ = sleeper  // returning from main: the atexit hook applies the exit policy
}
