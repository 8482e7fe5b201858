import Synchronization
import ThreadKillStress

/// Kill latencies per method, in microseconds: every sample, for exact percentiles.
///
/// A sample is a `UInt32` of microseconds (up to 71 minutes, far beyond the
/// watchdog), so a 300 s run's quarter of a million kills adds about 1 MB
/// to the resident memory the run itself measures — well inside its bound.
final class LatencySamples: Sendable {
    private let samples = Mutex<[StressMethod: [UInt32]]>([:])

    /// Records a kill that took effect; others have no latency to report.
    func record(_ record: KillRecord) {
        guard record.outcome.tookEffect else { return }
        let (seconds, attoseconds) = record.latency.components
        let micros = max(1, seconds * 1_000_000 + attoseconds / 1_000_000_000_000)
        let sample = UInt32(clamping: micros)
        samples.withLock { samples in
            samples[record.operation.method, default: []].append(sample)
        }
    }

    /// Each method's percentiles, over the samples recorded so far.
    var percentiles: [StressMethod: Percentiles<UInt32>] {
        samples.withLock { $0 }.mapValues { Percentiles($0) }
    }
}
