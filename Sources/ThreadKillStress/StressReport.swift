import ThreadKill

/// What a stress run did and whether its invariants held.
public struct StressReport: Sendable {
    /// The seed that replays the schedule.
    public let seed: UInt64
    /// The methods drawn from.
    public let methods: [StressMethod]
    /// Concurrent workers.
    public let threads: Int
    /// From the first operation to the last join.
    public let elapsed: Duration
    /// Kills by method and outcome.
    public let counts: [StressMethod: [KillOutcome: Int]]
    /// The first undocumented outcomes, described.
    public let undocumented: [String]
    /// Kills that landed by a jump out of an async region.
    public let injectionJumps: Int
    /// Of those, the ones that landed as the Swift runtime or glibc returned (a hijacked return).
    public let injectionJumpsOnReturn: Int
    /// Declined jumps, by reason (from ``ThreadKill/ThreadRef/injectionStatistics``).
    public let injectionDeclines: [InjectionStatistics.DeclineReason: Int]
    /// Resident set size at the baseline and at the end, in bytes.
    public let residentBefore: Int
    /// Resident set size at the end, in bytes.
    public let residentAfter: Int
    /// The checks, in order.
    public let invariants: [InvariantResult]

    /// All kills.
    public var kills: Int { counts.values.reduce(0) { $0 + $1.values.reduce(0, +) } }
    /// Checks that held.
    public var passed: Int { invariants.filter(\.passed).count }
    /// Checks that failed.
    public var failed: Int { invariants.count - passed }
    /// Kills per second of run time.
    public var killsPerSecond: Double {
        let seconds = elapsed.seconds
        return seconds > 0 ? Double(kills) / seconds : 0
    }
    /// Resident growth divided by kills, in bytes (negative if it shrank).
    public var residentGrowthPerKill: Double {
        kills > 0 ? Double(residentAfter - residentBefore) / Double(kills) : 0
    }
    /// The closing line: `N passed, N failed`.
    public var verdict: String { "\(passed) passed, \(failed) failed" }
}
