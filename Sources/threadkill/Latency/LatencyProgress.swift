/// The progress bar of a latency run: trials done out of trials planned.
///
/// Drawn on a terminal only; when standard output is a file or a pipe the
/// run prints its results and nothing else, so that logs stay as they were.
final class LatencyProgress {
    private let display = ProgressDisplay()
    private let total: Int
    private var done = 0

    /// A bar for `cases`, each running `trialsPerSide` trials (warm-up included)
    /// on its C side, if it has one, and on its ThreadKill side.
    init(cases: [LatencyCase], trialsPerSide: Int) {
        total = cases.reduce(0) { sides, latencyCase in sides + (latencyCase.c == nil ? 1 : 2) } * trialsPerSide
    }

    /// Counts `trials` more trials of `latencyCase` as done and redraws the bar.
    func advance(_ latencyCase: LatencyCase, by trials: Int) {
        done += trials
        guard display.isTerminal else { return }
        display.show(fraction: Double(done) / Double(max(total, 1)), status: "\(latencyCase.label): \(done)/\(total) trials")
    }

    /// Erases the bar before results are printed on its line.
    func clear() {
        display.clear()
    }
}
