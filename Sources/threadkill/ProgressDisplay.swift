#if canImport(Glibc)
import Glibc
#endif

/// Progress while a long command runs: a bar redrawn in place on a
/// terminal, a plain line per report otherwise (logs, pipes, CI).
struct ProgressDisplay: Sendable {
    /// Whether standard output is a terminal.
    let isTerminal: Bool

    /// The width of the bar, in characters between its brackets.
    static let barWidth = 30

    init() {
        isTerminal = isatty(1) == 1
    }

    /// Shows how far the command has got: `fraction` of the way (0...1), and a status line.
    ///
    /// On a terminal the bar and the status replace the previous ones; elsewhere
    /// the status is printed as a line of its own, `progress: <status>`.
    func show(fraction: Double, status: String) {
        if isTerminal {
            let filled = min(Self.barWidth, max(0, Int(Double(Self.barWidth) * fraction)))
            let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: Self.barWidth - filled)
            print("\r[\(bar)] \(status)\u{1B}[K", terminator: "")
        } else {
            print("progress: \(status)")
        }
        fflush(nil)
    }

    /// Ends the bar's line, leaving the last bar on screen, before the output that follows.
    func finish() {
        if isTerminal { print() }
    }

    /// Erases the bar, so that the output that follows takes its line.
    func clear() {
        if isTerminal {
            print("\r\u{1B}[K", terminator: "")
            fflush(nil)
        }
    }
}
