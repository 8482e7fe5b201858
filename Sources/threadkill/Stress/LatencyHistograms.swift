import Histogram
import Synchronization
import ThreadKillStress

/// Kill latencies per method, in microseconds, in HdrHistograms.
final class LatencyHistograms: Sendable {
    private let histograms = Mutex<[StressMethod: Histogram<UInt64>]>([:])

    /// Records a kill that took effect.
    func record(_ record: KillRecord) {
        guard record.outcome.tookEffect else { return }
        let (seconds, attoseconds) = record.latency.components
        let micros = UInt64(max(1, seconds * 1_000_000 + attoseconds / 1_000_000_000_000))
        histograms.withLock { histograms in
            _ = histograms[record.operation.method, default: Self.empty()].record(micros)
        }
    }

    /// A copy of each method's histogram.
    var snapshot: [StressMethod: Histogram<UInt64>] { histograms.withLock { $0 } }

    private static func empty() -> Histogram<UInt64> {
        // Up to 10 minutes, three significant digits.
        Histogram(lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)
    }
}
