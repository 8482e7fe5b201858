// Worker jobs for ThreadKillTests' IsolatedProcess tests. The test runner's
// `main` cannot call the worker hook, so the tests start this program instead.
#if canImport(Glibc)
import Glibc
#endif
import CPthreadShim
import ThreadKill
import ThreadKillStress
import ThreadKillTestSupport

struct FixtureError: Error, CustomStringConvertible {
    let detail: String
    var description: String { "fixture failure: \(detail)" }
}

/// A field of /proc/self/status in KiB ("VmRSS", "VmHWM"), or -1.
func statusKiB(_ field: String) -> Int {
    statusField("/proc/self/status", field).flatMap { Int($0.split(separator: " ").first ?? "") } ?? -1
}

func writeLine(_ line: String, toFIFO path: String) {
    let fd = open(path, O_WRONLY)
    precondition(fd >= 0, "cannot open FIFO \(path)")
    let bytes = Array((line + "\n").utf8)
    precondition(write(fd, bytes, bytes.count) == bytes.count)
    close(fd)
}

func readLine(fromFIFO path: String) -> String {
    let fd = open(path, O_RDONLY)
    precondition(fd >= 0, "cannot open FIFO \(path)")
    defer { close(fd) }
    var bytes: [UInt8] = []
    var byte: UInt8 = 0
    while read(fd, &byte, 1) == 1 && byte != UInt8(ascii: "\n") { bytes.append(byte) }
    return String(decoding: bytes, as: UTF8.self)
}

func pauseForever() -> Never {
    while true { pause() }
}

/// `POSIX_SPAWN_SETSID` (glibc 2.26): a macro Swift does not import.
let posixSpawnSetsid: Int32 = 0x80

/// Starts `/bin/sh -c script` inheriting our standard streams; `ownGroup`
/// puts it in a new process group, `ownSession` in a new session (`setsid`):
/// either way out of reach of signals to our group.
func spawnShell(_ script: String, ownGroup: Bool, ownSession: Bool = false) -> pid_t {
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    if ownGroup {
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)
    }
    if ownSession {
        posix_spawnattr_setflags(&attributes, Int16(posixSpawnSetsid))
    }
    let words: [String] = ["/bin/sh", "-c", script]
    let argv = words.map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid: pid_t = 0
    let err = posix_spawn(&pid, "/bin/sh", nil, &attributes, argv, environ)
    precondition(err == 0, "posix_spawn /bin/sh failed: \(err)")
    return pid
}

func openFDCount() -> Int {
    ProcSelf.entries("/proc/self/fd").count - 1  // the directory stream's own fd
}

/// Whether `pid` is a zombie child of this process.
func isOurZombie(_ pid: pid_t) -> Bool {
    guard let file = fopen("/proc/\(pid)/stat", "r") else { return false }
    defer { fclose(file) }
    var buffer = [CChar](repeating: 0, count: 1024)
    guard fgets(&buffer, Int32(buffer.count), file) != nil else { return false }
    let line = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    guard let close = line.lastIndex(of: ")") else { return false }
    let fields = line[line.index(after: close)...].split(separator: " ")
    return fields.count > 1 && fields[0] == "Z" && pid_t(fields[1]) == getpid()
}

FixtureJob.double.register { (x: Int) in x * 2 }
FixtureJob.fail.register { (why: String) throws -> Int in throw FixtureError(detail: why) }
FixtureJob.spin.register { (_: Int) -> Int in
    var x = 0
    while true { x = x &+ 1; if x == 0 { return x } }
}
FixtureJob.ignoreTerm.register { (ready: String) -> Int in
    signal(SIGTERM, SIG_IGN)
    writeLine("ready", toFIFO: ready)
    pauseForever()
}
registerReplyOnTerm()
FixtureJob.crash.register { (x: Int) -> Int in
    let values = [1, 2, 3]
    return values[x]  // out of range: traps
}
FixtureJob.exit.register { (status: Int32) -> Int in exit(status) }
FixtureJob.print.register { (text: String) -> Int in
    print(text)
    let err = Array("err:\(text)\n".utf8)
    _ = write(2, err, err.count)
    return text.utf8.count
}
FixtureJob.readyThenAwait.register { (handshake: Handshake) -> String in
    writeLine("ready", toFIFO: handshake.ready)
    return "ok:" + readLine(fromFIFO: handshake.go)
}
FixtureJob.grandchild.register { (ready: String) -> Int in
    signal(SIGTERM, SIG_IGN)  // inherited by the shell: both ignore SIGTERM
    let grandchild = spawnShell("exec sleep 1000", ownGroup: false)
    print("grandchild \(grandchild)")
    fflush(nil)
    writeLine("grandchild \(grandchild)", toFIFO: ready)
    pauseForever()
}
FixtureJob.sessionGrandchild.register { (ready: String) -> Int in
    // The grandchild leaves our session and group and ignores SIGTERM; the
    // job itself does not ignore it.
    signal(SIGTERM, SIG_IGN)
    let grandchild = spawnShell("exec sleep 1000", ownGroup: false, ownSession: true)
    signal(SIGTERM, SIG_DFL)
    writeLine("grandchild \(grandchild)", toFIFO: ready)
    pauseForever()
}
FixtureJob.adoptedOrphan.register { (ready: String) -> Int in
    // A double fork: the shell starts a SIGTERM-ignoring sleep in the
    // background and exits. The job has no child left; the orphaned sleep is
    // reparented to the nearest subreaper — the supervisor — before the job reports it.
    guard let shell = popen("trap '' TERM; sleep 1000 </dev/null >/dev/null 2>&1 & echo $!", "r") else { return -1 }
    var line = [CChar](repeating: 0, count: 64)
    let read = fgets(&line, Int32(line.count), shell) != nil
    pclose(shell)  // waits for the shell: it is gone, and reaped, when this returns
    guard read, let orphan = pid_t(String(decoding: line.prefix { $0 != 0 && $0 != 10 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)) else { return -1 }
    writeLine("orphan \(orphan)", toFIFO: ready)
    pauseForever()
}
FixtureJob.announce.register { (ready: String) -> Int in
    writeLine("job \(getpid())", toFIFO: ready)
    pauseForever()
}
FixtureJob.escape.register { (_: Int) -> Int32 in
    let grandchild = spawnShell("exec sleep 1000", ownGroup: true)
    print("escaped \(grandchild)")
    return grandchild
}
FixtureJob.parent.register { (ready: String) throws -> Int in
    let child = try IsolatedProcess.start(FixtureJob.ignoreTerm, input: ready)
    writeLine("child \(child.processIdentifier)", toFIFO: ready)
    _ = try child.wait()
    return 0
}
/// Writes `request[0]` bytes (byte i is `floodByte(i)`) to fd `request[1]`.
FixtureJob.flood.register { (request: [Int]) -> Int in
    let (count, fd) = (request[0], Int32(request[1]))
    let chunk = (0..<(1 << 20)).map(floodByte)  // 2^20 is not a multiple of 251: offset each chunk
    var done = 0
    while done < count {
        let n = min(count - done, chunk.count - 251)
        let start = done % 251
        let written = chunk.withUnsafeBytes { write(fd, $0.baseAddress! + start, n) }
        guard written > 0 else { throw FixtureError(detail: "write: \(errno)") }
        done += written
    }
    return count
}
FixtureJob.floodMemory.register { (bytes: Int) throws -> FloodReport in
    // Reset the peak to the current size (Linux 4.0+), so VmHWM measures the flood only.
    if let file = fopen("/proc/self/clear_refs", "w") { fputs("5", file); fclose(file) }
    let before = statusKiB("VmRSS")
    let result = try IsolatedProcess.start(FixtureJob.flood, input: [bytes, 1], standardOutput: .capture).wait()
    let kept = result.standardOutput ?? []
    return FloodReport(residentBeforeKiB: before, peakAfterKiB: statusKiB("VmHWM"), keptBytes: kept.count,
                       droppedBytes: result.standardOutputDroppedBytes,
                       keptIsPrefix: kept.indices.allSatisfy { kept[$0] == floodByte($0) }, value: result.outcome.value)
}
FixtureJob.fds.register { (_: Int) -> [Int32] in
    guard let dir = opendir("/proc/self/fd") else { throw FixtureError(detail: "opendir") }
    defer { closedir(dir) }
    var fds: [Int32] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if let fd = Int32(name), fd != dirfd(dir) { fds.append(fd) }
    }
    return fds.sorted()
}
FixtureJob.cycles.register { (request: [Int]) throws -> CycleReport in
    let (count, usePidfd) = (request[0], request[1] != 0)
    if !usePidfd { setenv("THREADKILL_PIDFD", "0", 1) }
    // Warm up once: the spawner thread and lazily opened runtime fds are not leaks.
    _ = try IsolatedProcess.run(FixtureJob.double, input: 1, timeout: .seconds(30))
    var report = CycleReport(usedPidfd: usePidfd, fdsBefore: openFDCount(), fdsAfter: 0, pids: [], zombies: [], outcomes: [])
    for i in 0..<count {
        switch i % 3 {
        case 0:
            let process = try IsolatedProcess.start(FixtureJob.double, input: i)
            report.pids.append(process.processIdentifier)
            guard try process.wait().outcome.value == 2 * i else { throw FixtureError(detail: "cycle \(i): wrong value") }
        case 1:
            let process = try IsolatedProcess.start(FixtureJob.spin, input: i)
            report.pids.append(process.processIdentifier)
            let outcome = try process.terminate(grace: .seconds(10)).outcome
            report.outcomes.append("\(outcome)")
        default:
            let process = try IsolatedProcess.start(FixtureJob.spin, input: i, standardOutput: .capture, standardError: .capture)
            report.pids.append(process.processIdentifier)
            report.outcomes.append("\(try process.kill().outcome)")
        }
    }
    report.fdsAfter = openFDCount()
    report.zombies = report.pids.filter(isOurZombie)
    return report
}

IsolatedProcess.runWorkerIfRequested()

/// Writes a line straight to standard output, unbuffered.
func say(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
}

/// Exit-policy scenarios for ExitPolicyTests: `exit-policy daemon|non-daemon|signals`.
/// Each prints "ready" once its worker runs; the worker's cleanup prints "cleanup ran".
func exitPolicyScenario(_ mode: String) throws {
    KillableThreads.exitPolicy = ExitPolicy(waitForNonDaemon: .milliseconds(200), stopGrace: .seconds(5))
    if mode == "signals" { try KillableThreads.handleTerminationSignals(grace: .seconds(5)) }
    if mode == "signals-stuck" { try KillableThreads.handleTerminationSignals(grace: .seconds(3600)) }
    let started = Monitor(false)
    let worker = try KillableThread(name: "worker", daemon: mode == "daemon") { ctx in
        ctx.onKill { say("cleanup ran") }
        started.withLock { $0 = true }
        if mode == "signals-stuck" {
            while true { do { try ctx.checkpoint() } catch {} }  // swallows every kill: unstoppable
        }
        while true { try ctx.sleep(for: .seconds(3600)) }
    }
    let waiter = try KillableThread { ctx in _ = try ctx.wait(on: started, until: { $0 }) { _ in } }
    _ = try waiter.join()
    say("ready")
    if mode.hasPrefix("signals") {
        var ts = timespec(tv_sec: 3600, tv_nsec: 0)
        while true { nanosleep(&ts, nil) }  // the signal thread ends the program
    }
    _ = worker  // returning from main: the atexit hook applies the exit policy
}

/// `exit-policy shutdown`: three threads (one a daemon), stopped by KillableThreads.shutdown.
func shutdownScenario() throws {
    let running = Monitor(0)
    var threads: [KillableThread<Void>] = []
    for i in 0..<3 {
        threads.append(try KillableThread(name: "worker\(i)", daemon: i == 0) { ctx in
            ctx.onKill { say("cleanup ran") }
            running.withLock { $0 += 1 }
            while true { try ctx.sleep(for: .seconds(3600)) }
        })
    }
    let waiter = try KillableThread { ctx in _ = try ctx.wait(on: running, until: { $0 == 3 }) { _ in } }
    _ = try waiter.join()
    say("ready")
    let report = try KillableThreads.shutdown(grace: .seconds(20))
    for thread in threads { _ = try thread.join() }
    say("\(report)")
}

/// `signal-choice env|taken|none`: the first KillableThread's signal setup,
/// in a fresh process (the signal is chosen once per process). Prints the
/// refusal's code, or "installed N".
func signalChoiceScenario(_ mode: String) {
    switch mode {
    case "taken":  // THREADKILL_SIGNAL names a signal someone else ignores
        signal(CPthreadShim_sigrtmin() + 1, SIG_IGN)
        setenv("THREADKILL_SIGNAL", "\(CPthreadShim_sigrtmin() + 1)", 1)
    case "none":   // every candidate is taken
        for sig in CPthreadShim_sigrtmin()...(CPthreadShim_sigrtmax() - 6) { signal(sig, SIG_IGN) }
    default: break  // env: THREADKILL_SIGNAL comes from the test
    }
    do {
        _ = try KillableThread { _ in }.join()
        say("installed \(KillableThreads.signal?.rawValue ?? 0)")
    } catch {
        say("\(error.code)")
    }
}

/// `orphan-tree FIFO`: an intermediate parent. Starts the `grandchild` job
/// (which leaves a SIGTERM-ignoring grandchild and reports its pid on FIFO),
/// prints "started", and waits for it: the test kills this process with SIGKILL.
func orphanTreeScenario(_ fifo: String) throws {
    let process = try IsolatedProcess.start(FixtureJob.grandchild, input: fifo, standardOutput: .discard)
    say("started \(process.processIdentifier)")
    _ = try process.wait()
}

if CommandLine.arguments.count == 3 && CommandLine.arguments[1] == "orphan-tree" {
    try orphanTreeScenario(CommandLine.arguments[2])
} else if CommandLine.arguments.count == 2 && CommandLine.arguments[1] == "retry-timer" {
    try retryTimerScenario()
} else if CommandLine.arguments.count == 2 && CommandLine.arguments[1] == "retry-refused" {
    try retryRefusedScenario()
} else if CommandLine.arguments.count == 2 && CommandLine.arguments[1] == "retry-window" {
    try retryWindowScenario()
} else if CommandLine.arguments.count == 2 && CommandLine.arguments[1] == "tick-timers" {
    try tickTimersScenario()
} else if CommandLine.arguments.count == 2 && CommandLine.arguments[1] == "pays-nothing" {
    paysNothingScenario()
} else if CommandLine.arguments.count == 3 && CommandLine.arguments[1] == "state-leak" {
    try threadStateLeakScenario(CommandLine.arguments[2])
} else if CommandLine.arguments.count == 2 && CommandLine.arguments[1] == "memory-per-thread" {
    try memoryPerThreadScenario()
} else if CommandLine.arguments.count == 2 && CommandLine.arguments[1] == "duration-extremes" {
    try durationExtremesScenario()
} else if CommandLine.arguments.count == 2 && CommandLine.arguments[1] == "fork-in-flight" {
    try forkInFlightScenario()
} else if CommandLine.arguments.count == 2 && CommandLine.arguments[1] == "fork" {
    try forkScenario()
} else if CommandLine.arguments.count == 3 && CommandLine.arguments[1] == "stuck-callback" {
    try stuckCallbackScenario(CommandLine.arguments[2])
} else if CommandLine.arguments.count == 3 && CommandLine.arguments[1] == "signal-choice" {
    signalChoiceScenario(CommandLine.arguments[2])
} else if CommandLine.arguments.count == 3 && CommandLine.arguments[1] == "exit-policy" && CommandLine.arguments[2] == "shutdown" {
    try shutdownScenario()
} else if try leakScenario(CommandLine.arguments) {  // jump-leak, vouched-leak: JumpLeak.swift
} else if CommandLine.arguments.count == 3 && CommandLine.arguments[1] == "exit-policy" {
    try exitPolicyScenario(CommandLine.arguments[2])
} else if CommandLine.arguments.count == 3 && CommandLine.arguments[1] == "stack-floor" {
    stackFloorScenario(CommandLine.arguments[2])
} else if CommandLine.arguments.count == 3 && CommandLine.arguments[1] == "hazard" {
    try hazardScenario(CommandLine.arguments[2])
} else if CommandLine.arguments.count == 2 && CommandLine.arguments[1] == "events" {
    try eventScenario()
} else if CommandLine.arguments.count == 2 && CommandLine.arguments[1] == "thread-names" {
    try threadNamesScenario()
} else {
    print("ThreadKillFixtures: a worker program for ThreadKill's tests; the tests start it.")
}
