#if canImport(Glibc)
import Glibc
#endif
import ThreadKillStress

/// Progress while a stress run goes: a bar redrawn in place on a terminal,
/// a plain line per tick otherwise (logs, pipes, CI).
struct ProgressDisplay: Sendable {
    /// Whether standard output is a terminal.
    let isTerminal: Bool

    init() {
        isTerminal = isatty(1) == 1
    }

    /// How often to report: often enough to animate a bar, sparsely in a log.
    func tickInterval(for duration: Duration) -> Duration {
        isTerminal ? .milliseconds(250) : (duration > .seconds(20) ? .seconds(5) : .seconds(1))
    }

    func show(_ progress: StressProgress) {
        let elapsed = progress.elapsed.seconds
        let total = max(progress.duration.seconds, 0.001)
        let status = "\(String(format1: elapsed))s/\(String(format1: total))s  kills \(progress.kills)  undocumented \(progress.undocumented)  failed checks \(progress.failedChecks)"
        if isTerminal {
            let width = 30
            let filled = min(width, Int(Double(width) * elapsed / total))
            let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
            print("\r[\(bar)] \(status)\u{1B}[K", terminator: "")
        } else {
            print("progress: \(status)")
        }
        fflush(nil)
    }

    /// Ends the bar's line before the summary.
    func finish() {
        if isTerminal { print() }
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

extension String {
    /// One decimal place, without Foundation.
    init(format1 value: Double) {
        let tenths = Int((value * 10).rounded())
        self = "\(tenths / 10).\(abs(tenths % 10))"
    }
}
