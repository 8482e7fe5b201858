import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// What one body announces about itself, for the killer that aims at it and
/// for the watchdog's dump.
final class Probe: Sendable {
    private let reached = Atomic<Int>(0)
    private let latest = Atomic<Int>(-1)
    private let ended = Atomic<Bool>(false)

    func enter(_ phase: Phase) {
        reached.bitwiseOr(1 << phase.rawValue, ordering: .releasing)
        latest.store(phase.rawValue, ordering: .relaxed)
    }

    func end() { ended.store(true, ordering: .releasing) }

    var hasEnded: Bool { ended.load(ordering: .acquiring) }

    /// The phase announced last, for reports.
    var latestPhase: Phase? { Phase(rawValue: latest.load(ordering: .relaxed)) }

    func hasReached(_ phase: Phase) -> Bool {
        reached.load(ordering: .acquiring) & (1 << phase.rawValue) != 0
    }

    /// Yields until the body reaches `phase` or ends; gives up after `bound`
    /// (a phase the body never reaches is not a failure: the kill goes out anyway).
    func await(_ phase: Phase, bound: Duration) {
        let deadline = ContinuousClock.now + bound
        var spins = 0
        while !hasReached(phase) && !hasEnded {
            spins += 1
            if spins & 255 == 0 && ContinuousClock.now > deadline { return }
            sched_yield()
        }
    }
}

/// A registered cleanup: counts its runs, so a second run is caught.
final class CleanupToken: Sendable {
    private let runs = Atomic<Int>(0)
    private let tally: StressTally
    private let probe: Probe
    private let work: Int

    /// Counts a registration; call it in the same step that pushes the cleanup.
    init(tally: StressTally, probe: Probe, work: Int) {
        self.tally = tally
        self.probe = probe
        self.work = work
        tally.cleanupsRegistered.add(1, ordering: .relaxed)
    }

    /// The cleanup itself: announces it runs, does a little work (a window
    /// for a killer aiming at running cleanups), counts the run.
    func run() {
        probe.enter(.cleanupRunning)
        var x = UInt64(work)
        for _ in 0..<work { x = x &* 6364136223846793005 &+ 1442695040888963407 }
        tally.sink(x)
        if runs.add(1, ordering: .relaxed).newValue > 1 { tally.cleanupsRanTwice.add(1, ordering: .relaxed) }
        tally.cleanupsRan.add(1, ordering: .relaxed)
    }
}
