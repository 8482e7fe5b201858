import Synchronization

/// Everything the workers, the killers and the watchdog of one run share.
final class StressRunState: Sendable {
    let tally = StressTally()
    let shared = SharedLock()
    let workers: [WorkerStatus]
    /// Set when the run's time is up or the watchdog fired.
    let stopping = Atomic<Bool>(false)

    init(workers: Int) {
        self.workers = (0..<workers).map { _ in WorkerStatus() }
    }
}

/// Where one worker is, for the watchdog: its operation, its body's probe,
/// and when it last made progress.
final class WorkerStatus: Sendable {
    private struct State {
        var operation: StressOperation?
        var probe: Probe?
        var step = "idle"
        var lastProgress = ContinuousClock.now
    }

    private let state = Mutex(State())

    func current(_ operation: StressOperation, probe: Probe?) {
        state.withLock {
            $0.operation = operation
            $0.probe = probe
            $0.step = "aiming"
            $0.lastProgress = .now
        }
    }

    func fired() {
        state.withLock {
            $0.step = "killed, joining"
            $0.lastProgress = .now
        }
    }

    func done() {
        state.withLock {
            $0.step = "idle"
            $0.probe = nil
            $0.lastProgress = .now
        }
    }

    var sinceProgress: Duration { ContinuousClock.now - state.withLock { $0.lastProgress } }

    var description: String {
        state.withLock { s in
            let phase = s.probe?.latestPhase.map { " body phase \($0)" } ?? ""
            return "\(s.step): \(s.operation.map { "\($0)" } ?? "none")\(phase)"
        }
    }
}

/// The one `Mutex` every masked body contends on; the health check takes it at the end.
final class SharedLock: Sendable {
    let mutex = Mutex<UInt64>(0)
}
