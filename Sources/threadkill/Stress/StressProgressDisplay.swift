import ThreadKillStress

extension ProgressDisplay {
    /// How often a stress run reports: often enough to animate a bar, sparsely in a log.
    func tickInterval(for duration: Duration) -> Duration {
        isTerminal ? .milliseconds(250) : (duration > .seconds(20) ? .seconds(5) : .seconds(1))
    }

    /// Shows a stress run's progress: time, kills, and anything that went wrong so far.
    func show(_ progress: StressProgress) {
        let elapsed = progress.elapsed.seconds
        let total = max(progress.duration.seconds, 0.001)
        show(fraction: elapsed / total,
             status: "\(fixed(elapsed, 1))s/\(fixed(total, 1))s  kills \(progress.kills)  undocumented \(progress.undocumented)  failed checks \(progress.failedChecks)")
    }
}
