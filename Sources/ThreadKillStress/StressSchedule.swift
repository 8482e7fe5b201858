/// The seeded schedule of one stress worker: an endless, reproducible
/// sequence of ``StressOperation``s.
///
/// Each worker draws from its own generator (derived from the run's seed and
/// the worker's number), so the same seed gives every worker the same
/// operations in the same order however the threads interleave; only timing differs.
public struct StressSchedule: Sendable {
    private var random: StressRandom
    private let methods: [StressMethod]
    private var nextIndex = 0

    /// The schedule of worker `worker` in a run seeded with `seed`.
    ///
    /// - Parameter methods: The methods to draw from; not empty.
    public init(seed: UInt64, worker: Int, methods: [StressMethod]) {
        precondition(!methods.isEmpty, "StressSchedule needs at least one method")
        var mixer = SplitMix64(state: seed)
        for _ in 0...worker { _ = mixer.next() }
        random = StressRandom(seed: mixer.next() ^ UInt64(worker))
        self.methods = methods
    }

    /// The next operation.
    public mutating func next() -> StressOperation {
        defer { nextIndex += 1 }
        let method = random.pick(methods)
        let body: BodyKind
        switch method.needs {
        case .asyncRegion: body = .asyncAllocation
        case .cancellableCall: body = random.chance(50) ? .cancellableRead : .cancellableCRead
        case .anyBody, .childProcess: body = random.pick(BodyKind.allCases)
        }
        let cleanups = (0..<random.int(in: 0...3)).map { _ in random.pick(CleanupKind.allCases) }
        let releaseFirst = body.blocks ? random.chance(25) : false
        var phases = body.phases
        if !cleanups.isEmpty { phases.append(.cleanupRunning) }
        if body.blocks && !releaseFirst {
            phases.removeAll { $0 == .exiting || $0 == .cleanupRunning }  // never reached until the kill
        }
        let moment: KillMoment
        switch random.below(10) {
        case 0: moment = .atOnce
        case 1...4: moment = .after(microseconds: method == .process ? random.int(in: 0...40_000) : random.int(in: 0...2_000))
        default: moment = .atPhase(random.pick(phases))
        }
        let work: Int
        if method == .process {
            work = random.chance(20) ? random.int(in: 1...10_000) : random.int(in: 1_000_000...200_000_000)
        } else {
            work = random.chance(30) ? random.int(in: 1...20) : random.int(in: 20...2_000)
        }
        return StressOperation(
            index: nextIndex, method: method, body: body, moment: method == .process ? .after(microseconds: moment.microseconds) : moment,
            releaseFirst: releaseFirst, work: work, cleanups: cleanups,
            allocation: random.int(in: 1...512))
    }
}

extension KillMoment {
    var microseconds: Int {
        if case .after(let us) = self { return us }
        return 0
    }
}
