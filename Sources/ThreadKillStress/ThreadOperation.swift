import Synchronization
import ThreadKill
#if canImport(Glibc)
import Glibc
#endif

/// One operation against a thread: start a body, aim, kill, join, classify.
enum ThreadOperation {
    /// Longest a killer waits for a phase before firing anyway.
    static let aimBound: Duration = .seconds(1)
    /// Longest a join may take before the operation counts as hung. Above the
    /// run watchdog's 10 s, so a real hang is reported by the watchdog with a dump.
    static let joinBound: Duration = .seconds(30)

    static func run(
        _ operation: StressOperation, worker: Int, listener: (fd: Int32, port: UInt16),
        run: StressRunState, skipOneCleanup: Bool
    ) -> (KillRecord, InjectionStatistics?) {
        let probe = Probe()
        run.workers[worker].current(operation, probe: probe)
        func record(_ outcome: KillOutcome, _ latency: Duration = .zero, _ detail: String? = nil) -> KillRecord {
            KillRecord(worker: worker, operation: operation, outcome: outcome, latency: latency, detail: detail)
        }
        let resources: OperationResources
        do {
            resources = try OperationResources(for: operation.body, listener: listener.fd, port: listener.port)
        } catch {
            return (record(.undocumented, .zero, "could not set up: \(error)"), nil)
        }
        defer { resources.closeAll() }
        let env = BodyEnvironment(operation: operation, probe: probe, tally: run.tally, shared: run.shared,
                                  fd: resources.bodyFD, skipOneCleanup: skipOneCleanup)
        let thread: KillableThread<UInt64>
        do {
            thread = try KillableThread(name: "stress-\(worker)") { ctx in try Bodies.run(ctx, env) }
        } catch {
            return (record(.undocumented, .zero, "could not start the thread: \(error)"), nil)
        }
        do {
            if operation.releaseFirst { try resources.release() }
        } catch {
            return (finish(thread, record(.undocumented, .zero, "release failed: \(error)"), resources), nil)
        }

        switch operation.moment {
        case .atOnce: break
        case .after(let microseconds): pause(microseconds: microseconds)
        case .atPhase(let phase): probe.await(phase, bound: aimBound)
        }
        run.workers[worker].fired()
        let raised = StressRaised(worker: worker, operation: operation.index)
        let requestedAt = ContinuousClock.now
        let refusal = Killer.fire(operation.method, at: thread.ref, raising: raised)
        let joined: Outcome<UInt64>?
        do {
            joined = try thread.join(timeout: joinBound)
        } catch {
            joined = nil
        }
        let latency = ContinuousClock.now - requestedAt
        let injection = thread.ref.injectionStatistics
        guard let outcome = joined else {
            return (record(.undocumented, latency, "thread did not end within \(joinBound) (phase \(probe.latestPhase.map { "\($0)" } ?? "none"))"), injection)
        }
        if let refusal {
            if refusal == .refused, case .returned = outcome { return (record(.refused), injection) }
            return (record(.undocumented, latency, "kill not sent (\(refusal)); thread ended as \(outcome)"), injection)
        }
        let (kind, detail) = Killer.classify(operation.method, outcome, raised: raised)
        return (record(kind, kind.tookEffect ? latency : .zero, detail), injection)
    }

    /// Ends an operation that failed half-way: lets the body go, stops it, joins it.
    private static func finish(_ thread: KillableThread<UInt64>, _ record: KillRecord, _ resources: OperationResources) -> KillRecord {
        try? thread.interrupt()
        try? resources.release()
        _ = try? thread.join(timeout: joinBound)
        return record
    }
}

/// Sleeps for a planned delay: schedule timing, never synchronization.
func pause(microseconds: Int) {
    guard microseconds > 0 else { return }
    var request = timespec(tv_sec: microseconds / 1_000_000, tv_nsec: (microseconds % 1_000_000) * 1_000)
    var remaining = timespec()
    while nanosleep(&request, &remaining) == -1 && errno == EINTR { request = remaining }
}
