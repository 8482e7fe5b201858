import Synchronization
import ThreadKill
#if canImport(Glibc)
import Glibc
#endif

/// Runs a stress scenario: workers start random bodies, killers hit them with
/// random methods at random moments, and the run ends with health checks.
///
/// A run counts process-wide things (threads, descriptors, children, resident
/// memory), so it must own its process: run it from a program of its own,
/// such as `threadkill stress`, never inside a shared test process.
///
/// ```swift
/// let report = StressEngine(StressConfiguration(duration: .seconds(5), threads: 4, seed: 42)).run()
/// print(report.verdict)   // 9 passed, 0 failed
/// ```
public final class StressEngine: Sendable {
    private let configuration: StressConfiguration
    private let onKill: @Sendable (KillRecord) -> Void
    private let onTick: @Sendable (StressProgress) -> Void

    /// An engine for one run.
    ///
    /// - Parameters:
    ///   - configuration: What to run.
    ///   - onKill: Called on the killer's thread after every kill.
    ///   - onTick: Called on the monitor thread every ``StressConfiguration/tickInterval``.
    public init(
        _ configuration: StressConfiguration,
        onKill: @escaping @Sendable (KillRecord) -> Void = { _ in },
        onTick: @escaping @Sendable (StressProgress) -> Void = { _ in }
    ) {
        precondition(configuration.threads > 0, "StressConfiguration.threads must be positive")
        precondition(!configuration.methods.isEmpty, "StressConfiguration.methods must not be empty")
        self.configuration = configuration
        self.onKill = onKill
        self.onTick = onTick
    }

    /// Runs the scenario to its end and checks the invariants.
    ///
    /// A worker stuck for ``StressConfiguration/watchdogTimeout`` ends the
    /// process with status 3 and a dump of every thread on standard error.
    public func run() -> StressReport {
        warmUp()
        let baseline = Baseline.take()
        let leaked: Int32? = configuration.fault == .leakDescriptor ? open("/dev/null", O_RDONLY | O_CLOEXEC) : nil
        _ = leaked
        let state = StressRunState(workers: configuration.threads)
        let listeners: [(fd: Int32, port: UInt16)]
        do {
            listeners = try (0..<configuration.threads).map { _ in try Loopback.listener() }
        } catch {
            preconditionFailure("threadkill stress: cannot listen on 127.0.0.1: \(error)")
        }
        let startedAt = ContinuousClock.now
        let deadline = startedAt + configuration.duration
        let watchdog = StressWatchdog(run: state, configuration: configuration, startedAt: startedAt, onTick: onTick)
        let monitor = PlainThread { watchdog.watch() }
        let configuration = configuration
        let onKill = onKill
        let workers = (0..<configuration.threads).map { worker in
            let listener = listeners[worker]
            return PlainThread {
                var schedule = StressSchedule(seed: configuration.seed, worker: worker, methods: configuration.methods)
                var done = 0
                while ContinuousClock.now < deadline && done < (configuration.operationsPerWorker ?? .max) {
                    let operation = schedule.next()
                    if configuration.fault == .stallWorker && worker == 0 {
                        state.workers[worker].current(operation, probe: nil)
                        while true { pause(microseconds: 1_000_000) }  // the fault: never comes back
                    }
                    let skip = configuration.fault == .skipCleanup && worker == 0 && done == 0
                    let record: KillRecord
                    var injection: InjectionStatistics?
                    if operation.method == .process {
                        record = ProcessOperation.run(operation, worker: worker, executable: configuration.processExecutable, run: state)
                    } else {
                        (record, injection) = ThreadOperation.run(operation, worker: worker, listener: listener, run: state, skipOneCleanup: skip)
                    }
                    state.tally.record(record, injection: injection)
                    if configuration.fault == .leakMemory, let leaked = malloc(256 << 10) {
                        memset(leaked, 0x5A, 256 << 10)  // the fault: never freed
                    }
                    state.workers[worker].done()
                    onKill(record)
                    done += 1
                }
            }
        }
        workers.forEach { $0.join() }
        let elapsed = ContinuousClock.now - startedAt
        watchdog.finish()
        monitor.join()
        listeners.forEach { close($0.fd) }
        let snapshot = state.tally.snapshot
        let residentAfter = ProcSelf.residentBytes
        let invariants = check(state: state, watchdog: watchdog, baseline: baseline, snapshot: snapshot, residentAfter: residentAfter)
        return StressReport(
            seed: configuration.seed, methods: configuration.methods, threads: configuration.threads, elapsed: elapsed,
            counts: snapshot.counts, undocumented: snapshot.undocumented, injectionJumps: snapshot.jumps,
            injectionJumpsOnReturn: snapshot.jumpsOnReturn,
            injectionDeclines: snapshot.declines, residentBefore: baseline.residentBytes, residentAfter: residentAfter,
            invariants: invariants)
    }

    /// Starts the library's service threads before the baseline is taken:
    /// the resend watchdog (first interrupt), the async-region tables (first
    /// region) and the process spawner (first job). They live for the whole
    /// process and are not leaks.
    private func warmUp() {
        let sleeper = try? KillableThread(name: "stress-warmup") { ctx in try ctx.sleep(for: .seconds(60)) }
        try? sleeper?.interrupt()
        _ = try? sleeper?.join(timeout: .seconds(30))
        let region = try? KillableThread(name: "stress-warmup") { ctx -> UInt64 in
            try ctx.asyncKillable { () -> UInt64 in
                var x: UInt64 = 1
                for _ in 0..<1_000_000 { x = Bodies.mix(x) }
                return x
            }
        }
        try? region?.interrupt()
        _ = try? region?.join(timeout: .seconds(30))
        if configuration.methods.contains(.process) {
            _ = try? IsolatedProcess.run(StressJobs.spin, input: 1, timeout: .seconds(30), executable: configuration.processExecutable)
        }
    }

    private func check(
        state: StressRunState, watchdog: StressWatchdog, baseline: Baseline, snapshot: StressTally.Records, residentAfter: Int
    ) -> [InvariantResult] {
        var results: [InvariantResult] = []
        func expect(_ name: String, _ passed: Bool, _ detail: String) {
            results.append(InvariantResult(name: name, passed: passed, detail: detail))
        }
        let kills = snapshot.counts.values.reduce(0) { $0 + $1.values.reduce(0, +) }
        expect("every kill ended in a documented outcome", snapshot.undocumentedCount == 0,
               "\(kills - snapshot.undocumentedCount) of \(kills)"
               + (snapshot.undocumented.isEmpty ? "" : "; first: " + snapshot.undocumented.prefix(3).joined(separator: "; ")))

        let registered = state.tally.cleanupsRegistered.load(ordering: .acquiring)
        let ran = state.tally.cleanupsRan.load(ordering: .acquiring)
        let twice = state.tally.cleanupsRanTwice.load(ordering: .acquiring)
        expect("every cleanup ran exactly once", registered == ran && twice == 0,
               "\(registered) registered, \(ran) ran, \(twice) ran twice")

        let checks = watchdog.periodicChecks.load(ordering: .relaxed)
        let failedChecks = watchdog.failedChecks.load(ordering: .relaxed)
        expect("periodic checks held during the run", failedChecks == 0,
               "\(checks - failedChecks) of \(checks)" + (watchdog.firstFailure.withLock { $0 }.map { "; first failure \($0)" } ?? ""))

        let live = KillableThreads.liveThreads
        expect("KillableThreads.liveThreads is empty", live.isEmpty,
               live.isEmpty ? "0 live" : live.map(\.description).joined(separator: ", "))

        expect("malloc, a Mutex and a fresh thread still work", healthCheck(state) == nil, healthCheck(state) ?? "all three work")

        // A joined thread's task can outlive pthread_join by a moment; give the kernel one.
        let threads = settle(baseline.threads) { ProcSelf.threadCount }
        expect("no thread leaked (/proc/self/task)", threads == baseline.threads, "\(threads) tasks, baseline \(baseline.threads)")
        let descriptors = ProcSelf.descriptorCount
        expect("no descriptor leaked (/proc/self/fd)", descriptors == baseline.descriptors,
               "\(descriptors) open, baseline \(baseline.descriptors)")
        var children = ProcSelf.children
        if children.count != baseline.children.count {
            _ = settle(baseline.children.count) { ProcSelf.children.count }
            children = ProcSelf.children
        }
        expect("no child process or zombie left", children == baseline.children,
               children.isEmpty ? "none" : children.joined(separator: ", "))

        let growth = residentAfter - baseline.residentBytes
        let limit = ResidentBound.limit(jumpedBytes: snapshot.jumpedBytes)
        expect("resident memory growth bounded", growth <= limit,
               "grew \(growth >> 10) KiB (\(kills > 0 ? growth / kills : 0) B per kill), bound \(limit >> 10) KiB")
        return results
    }

    /// nil if malloc, the shared `Mutex` and a fresh killable thread work; else what failed.
    private func healthCheck(_ state: StressRunState) -> String? {
        guard let memory = malloc(1 << 20) else { return "malloc(1 MiB) failed" }
        memset(memory, 0x5A, 1 << 20)
        free(memory)
        guard state.shared.mutex.withLockIfAvailable({ _ in true }) == true else { return "the shared Mutex is still held" }
        do {
            let fresh = try KillableThread(name: "stress-health") { ctx -> Int in
                try ctx.sleep(for: .seconds(60))
                return 0
            }
            try fresh.requestStop()
            guard let outcome = try fresh.join(timeout: .seconds(10)) else { return "a fresh thread did not stop within 10 s" }
            guard outcome.report?.reason == .stopRequested else { return "a fresh thread ended as \(outcome), not stopped" }
        } catch {
            return "a fresh thread failed: \(error)"
        }
        return nil
    }

    /// Reads `value` until it equals `target` or a second has passed.
    private func settle(_ target: Int, _ value: () -> Int) -> Int {
        let deadline = ContinuousClock.now + .seconds(1)
        var current = value()
        while current != target && ContinuousClock.now < deadline {
            pause(microseconds: 1_000)
            current = value()
        }
        return current
    }
}
