import ThreadKill
#if canImport(Glibc)
import Glibc
#endif

/// One ``StressMethod/process`` operation: start a short job in a child
/// process, wait the planned delay, terminate it, classify how it ended.
enum ProcessOperation {
    /// Between `SIGTERM` and `SIGKILL`.
    static let grace: Duration = .milliseconds(100)

    static func run(_ operation: StressOperation, worker: Int, executable: String?, run: StressRunState) -> KillRecord {
        run.workers[worker].current(operation, probe: nil)
        func record(_ outcome: KillOutcome, _ latency: Duration = .zero, _ detail: String? = nil) -> KillRecord {
            KillRecord(worker: worker, operation: operation, outcome: outcome, latency: latency, detail: detail)
        }
        let process: IsolatedProcess<UInt64>
        do {
            process = try IsolatedProcess.start(StressJobs.spin, input: operation.work, executable: executable,
                                                standardOutput: .discard, standardError: .inherit)
        } catch {
            return record(.undocumented, .zero, "could not start the job: \(error)")
        }
        pause(microseconds: operation.moment.microseconds)
        run.workers[worker].fired()
        let requestedAt = ContinuousClock.now
        let result: ProcessResult<UInt64>
        do {
            result = try process.terminate(grace: grace)
        } catch {
            _ = try? process.kill()
            return record(.undocumented, ContinuousClock.now - requestedAt, "terminate failed: \(error)")
        }
        let latency = ContinuousClock.now - requestedAt
        switch result.outcome {
        case .signaled(let signal) where signal == .terminate || signal == .kill:
            return record(.terminated, latency)
        case .returned(let value) where value == StressJobs.spinResult(operation.work):
            return record(.finished)
        default:
            return record(.undocumented, latency, "job ended as \(result.outcome)")
        }
    }
}
