import Synchronization
import ThreadKill
#if canImport(Glibc)
import Glibc
#endif

/// The run's monitor thread: reports progress, runs the periodic checks, and
/// ends a run whose workers stop making progress, with a dump of every thread.
final class StressWatchdog: Sendable {
    private let run: StressRunState
    private let configuration: StressConfiguration
    private let startedAt: ContinuousClock.Instant
    private let onTick: @Sendable (StressProgress) -> Void
    private let finished = Atomic<Bool>(false)
    let periodicChecks = Atomic<Int>(0)
    let failedChecks = Atomic<Int>(0)
    let firstFailure = Mutex<String?>(nil)

    init(run: StressRunState, configuration: StressConfiguration, startedAt: ContinuousClock.Instant,
         onTick: @escaping @Sendable (StressProgress) -> Void) {
        self.run = run
        self.configuration = configuration
        self.startedAt = startedAt
        self.onTick = onTick
    }

    /// Watches until ``finish()``; polls every 50 ms (a monitor's pace, not synchronization).
    func watch() {
        var nextTick = ContinuousClock.now + configuration.tickInterval
        while !finished.load(ordering: .acquiring) {
            pause(microseconds: 50_000)
            for (index, worker) in run.workers.enumerated() where worker.sinceProgress > configuration.watchdogTimeout {
                dumpAndExit(stuck: index)
            }
            if ContinuousClock.now >= nextTick {
                nextTick = nextTick + configuration.tickInterval
                checkPeriodically()
                onTick(progress)
            }
        }
    }

    func finish() { finished.store(true, ordering: .releasing) }

    var progress: StressProgress {
        StressProgress(elapsed: ContinuousClock.now - startedAt, duration: configuration.duration,
                       kills: run.tally.completed.load(ordering: .relaxed),
                       undocumented: run.tally.snapshot.undocumentedCount,
                       failedChecks: failedChecks.load(ordering: .relaxed))
    }

    /// What can be checked while workers run: no undocumented outcome so
    /// far, no cleanup run twice, never more runs than registrations.
    private func checkPeriodically() {
        periodicChecks.add(1, ordering: .relaxed)
        let tally = run.tally
        let ran = tally.cleanupsRan.load(ordering: .acquiring)
        let registered = tally.cleanupsRegistered.load(ordering: .acquiring)
        let twice = tally.cleanupsRanTwice.load(ordering: .relaxed)
        let undocumented = tally.snapshot.undocumentedCount
        var problems: [String] = []
        if undocumented > 0 { problems.append("\(undocumented) undocumented outcomes") }
        if twice > 0 { problems.append("\(twice) cleanups ran twice") }
        if ran > registered { problems.append("\(ran) cleanup runs for \(registered) registrations") }
        guard !problems.isEmpty else { return }
        failedChecks.add(1, ordering: .relaxed)
        let elapsed = ContinuousClock.now - startedAt
        firstFailure.withLock { $0 = $0 ?? "at \(elapsed): " + problems.joined(separator: ", ") }
    }

    private func dumpAndExit(stuck index: Int) -> Never {
        var lines = ["", "threadkill stress: WATCHDOG: worker \(index) made no progress for \(configuration.watchdogTimeout); seed \(configuration.seed)"]
        lines.append("workers:")
        for (i, worker) in run.workers.enumerated() { lines.append("  worker \(i): \(worker.description)") }
        lines.append("KillableThreads.liveThreads:")
        for thread in KillableThreads.liveThreads {
            lines.append("  \(thread) age \(thread.age) injection \(thread.injectionStatistics)")
        }
        lines.append("/proc/self/task:")
        lines += ProcSelf.threadDump
        let text = lines.joined(separator: "\n") + "\n"
        fflush(nil)
        _ = text.withCString { write(2, $0, strlen($0)) }
        _ = "\nwatchdog fired\n0 passed, 1 failed\n".withCString { write(1, $0, strlen($0)) }
        _exit(3)
    }
}
