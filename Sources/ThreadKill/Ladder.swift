import Synchronization

/// The escalation ladder: how ``KillableThread/stop(grace:ladder:)-5ebnj`` spends
/// its grace period, step by step, until the thread has ended.
public struct StopLadder: Sendable, Hashable {
    /// One way of asking a thread to end, from the politest to the firmest.
    ///
    /// A struct with static members rather than an enum, so that a later
    /// release can add a step without breaking a `switch` in your code
    /// (compare with `==`).
    public struct Step: Sendable, Hashable, CustomStringConvertible {
        enum Storage: Sendable, Hashable { case requestStop, interrupt, inject, cancel }
        let storage: Storage
        /// How reports name the step: "stop request", "interrupt", "injection", "cancel".
        public let rawValue: String

        private init(_ storage: Storage, _ name: String) {
            self.storage = storage
            self.rawValue = name
        }

        /// ``ThreadRef/requestStop()``: the thread ends at a checkpoint or wait of its choosing.
        public static let requestStop = Step(.requestStop, "stop request")
        /// ``ThreadRef/interrupt()``: wakes interruptible calls, blocking regions and async regions.
        public static let interrupt = Step(.interrupt, "interrupt")
        /// Signals again and restarts the resend window, so a kill declined in
        /// an async region (the thread was in the runtime or a library) lands
        /// once the thread is back in its own code.
        public static let inject = Step(.inject, "injection")
        /// ``ThreadRef/cancel()``: cancels a cancellable C call.
        public static let cancel = Step(.cancel, "cancel")

        /// Every step, politest first.
        public static let allCases: [Step] = [.requestStop, .interrupt, .inject, .cancel]

        public var description: String { rawValue }
    }

    /// A step and its share of the grace period.
    public struct Stage: Sendable, Hashable {
        /// What the stage does.
        public let step: Step
        /// Its fraction of the grace, in (0, 1]; the stages' shares add up to 1.
        public let share: Double
    }

    /// The stages, in order, each a step with its share of the grace period.
    public let steps: [Stage]

    /// A ladder of `steps`, the grace shared among them by `shares` (relative
    /// weights; equal by default).
    /// - Precondition: At least one step; shares positive and as many as steps.
    public init(_ steps: [Step], shares: [Double]? = nil) {
        precondition(!steps.isEmpty, "a ladder needs at least one step")
        let weights = shares ?? Array(repeating: 1, count: steps.count)
        precondition(weights.count == steps.count && weights.allSatisfy { $0 > 0 && $0.isFinite },
                     "a ladder needs one positive, finite share per step")
        let total = weights.reduce(0, +)
        self.steps = zip(steps, weights).map { Stage(step: $0, share: $1 / total) }
    }

    /// Stop request (40 % of the grace), interrupt (30 %), injection (20 %), cancel (10 %).
    public static let `default` = StopLadder([.requestStop, .interrupt, .inject, .cancel], shares: [4, 3, 2, 1])
}

/// What ``KillableThread/stop(grace:ladder:)-5ebnj`` did.
public struct StopReport: Sendable, Hashable, CustomStringConvertible {
    /// Whether the thread ended within the grace period.
    public let stopped: Bool
    /// The step during which the thread ended; nil if it had already ended, or never did.
    public let stepThatActed: StopLadder.Step?
    /// The steps taken, in order.
    public let stepsTaken: [StopLadder.Step]
    /// From the first step to the end of the thread (or to the end of the grace).
    public let elapsed: Duration
    /// Kills that landed in async regions, and declined jumps, during the stop.
    public let injection: InjectionStatistics
    /// Cleanups (``KillContext/onKill(_:)`` and friends) that ran during the stop.
    public let cleanupsRun: Int
    /// Kills thrown in the thread during the stop that it caught and carried
    /// on from (a catch-all swallowing a sticky stop counts once per throw).
    public let killsSwallowed: Int
    /// Whether the thread's stop callbacks (``StopToken/onStop(_:)``) were
    /// still running when the stop returned. The ladder runs them on a
    /// service thread so that a slow or stuck callback cannot hold it past
    /// its grace; they go on running there.
    public let stopCallbacksStillRunning: Bool

    public var description: String {
        let how = stopped ? "stopped by the \(stepThatActed?.rawValue ?? "thread itself")" : "NOT stopped"
        var notes = ["\(injection)", "\(cleanupsRun) cleanups ran"]
        if killsSwallowed > 0 { notes.append("\(killsSwallowed) kills swallowed") }
        if stopCallbacksStillRunning { notes.append("stop callbacks still running") }
        return "\(how) after \(elapsed.compactDescription) (steps: \(stepsTaken.map(\.rawValue).joined(separator: " → ")); \(notes.joined(separator: "; ")))"
    }
}

/// The result of ``KillableThread/stop(grace:ladder:)-5ebnj``.
public struct StopResult<Value: Sendable>: Sendable {
    /// How the thread ended, or nil if it had not ended when the grace ran out.
    public let outcome: Outcome<Value>?
    /// What the ladder did.
    public let report: StopReport
}

extension KillableThread {
    /// Stops the thread within `grace`, by whatever it takes: it climbs the
    /// ladder — stop request, interrupt, injection, cancel by default — giving
    /// each step its share of the grace, and returns as soon as the thread has ended.
    ///
    /// A thread that reaches none of the places where a step acts (a foreign
    /// call that retries `EINTR`, a loop that swallows every kill with a
    /// catch-all outside any async region) is not stopped: the result's
    /// `outcome` is nil and its report says so. It never hangs past the grace.
    ///
    /// - Throws: ``ThreadKillError/Code/callingThread`` from the thread itself,
    ///   ``ThreadKillError/Code/invalidDuration`` for a negative grace.
    @available(*, noasync, message: "stop(grace:) blocks its thread for up to the grace; from async code use the async stop(grace:ladder:)")
    public func stop(grace: Duration, ladder: StopLadder = .default) throws(ThreadKillError) -> StopResult<Value> {
        let report = try ref.stop(grace: grace, ladder: ladder)
        return StopResult(outcome: try join(timeout: .zero), report: report)
    }
}

extension ThreadRef {
    /// Stops the thread within `grace` by climbing `ladder`.
    /// See ``KillableThread/stop(grace:ladder:)-5ebnj``.
    @available(*, noasync, message: "stop(grace:) blocks its thread for up to the grace; from async code use the async stop(grace:ladder:)")
    public func stop(grace: Duration, ladder: StopLadder = .default) throws(ThreadKillError) -> StopReport {
        let graceNanos = try grace.validatedNanos("stop(grace:)")
        if core.isCurrentThread { throw .callingThread("stop(grace:)") }
        return StopLadder.climb(ladder, on: [core], graceNanos: graceNanos)[0]
    }
}

extension StopLadder {
    /// Climbs the ladder on several threads at once, step by step, and returns
    /// one report per thread (same order). Returns within the grace (plus
    /// scheduling noise) whatever the threads and their stop callbacks do.
    static func climb(_ ladder: StopLadder, on cores: [ThreadCore], graceNanos: UInt64) -> [StopReport] {
        let start = monotonicNanos()
        let before = cores.map { (InjectionStatistics(block: $0.block), $0.cleanupsRun.load(ordering: .relaxed), $0.stickyThrows) }
        var taken: [StopLadder.Step] = []
        var ended = [UInt64?](repeating: nil, count: cores.count)
        var endedDuring = [StopLadder.Step?](repeating: nil, count: cores.count)
        var callbacks = [StopCallbackRunner.Completion?](repeating: nil, count: cores.count)
        func isDone(_ i: Int) -> Bool { cores[i].waitDone(until: Deadline(nanos: 0)) }
        for i in cores.indices where isDone(i) { ended[i] = start }
        var stepEnd = start
        for stage in ladder.steps where ended.contains(where: { $0 == nil }) {
            let step = stage.step
            taken.append(step)
            for (i, core) in cores.enumerated() where ended[i] == nil {
                KillEvents.emit { KillEvent(.escalated, thread: ThreadRef(core: core), step: step) }
                switch step.storage {
                case .requestStop:
                    // The thread sees the stop at once (its kill word is set
                    // before the source's flag, either way); callbacks, if
                    // any, may take as long as they like, elsewhere.
                    let source = core.stop
                    if !source.state.requestStopIfNoCallbacks() {
                        core.stopRequested()
                        callbacks[i] = StopCallbackRunner.run { source.requestStop() }
                    }
                case .interrupt: try? core.interrupt()
                case .inject: core.signalUntilTaken()
                case .cancel: try? core.cancel()
                }
            }
            stepEnd = stepEnd.saturatingAdd(stage.share.of(graceNanos))
            for (i, core) in cores.enumerated() where ended[i] == nil {
                if core.waitDone(until: Deadline(nanos: stepEnd)) {
                    ended[i] = monotonicNanos()
                    endedDuring[i] = step
                }
            }
        }
        let now = monotonicNanos()
        return cores.indices.map { i in
            let core = cores[i]
            var injection = InjectionStatistics(block: core.block)
            injection.subtract(before[i].0)
            let endedBy = endedDuring[i] == nil ? nil : core.endingKill
            let throwsDuringStop = core.stickyThrows - before[i].2
            let lastThrowEnded = endedBy.map { $0.reason == .stopRequested || $0.reason == .cancelled } ?? false
            return StopReport(
                stopped: ended[i] != nil,
                stepThatActed: endedDuring[i].map { step(for: endedBy, endedDuring: $0, jumped: injection.jumps > 0) },
                stepsTaken: taken,
                elapsed: .nanoseconds((ended[i] ?? now) - start),
                injection: injection,
                cleanupsRun: core.cleanupsRun.load(ordering: .relaxed) - before[i].1,
                killsSwallowed: max(0, throwsDuringStop - (lastThrowEnded ? 1 : 0)),
                stopCallbacksStillRunning: callbacks[i].map { !$0.isDone } ?? false)
        }
    }

    /// The step whose kill ended the thread. The kill's reason says which:
    /// with a short grace, a stop request can end a thread after later steps
    /// were taken. An interrupt that landed by a jump during the injection
    /// step is the injection's doing (it re-signalled it into an async region).
    private static func step(for kill: KillError?, endedDuring step: StopLadder.Step, jumped: Bool) -> StopLadder.Step {
        switch kill?.reason {
        case .stopRequested: return .requestStop
        case .cancelled: return .cancel
        case .interrupted: return step == .inject && jumped ? .inject : .interrupt
        case .cpuBudgetExceeded, nil: return step
        }
    }
}

extension Double {
    /// This share of `nanos`, saturating (shares are in 0...1, but a grace of
    /// `.seconds(Int64.max)` times 1.0 is past `UInt64.max` as a Double).
    func of(_ nanos: UInt64) -> UInt64 {
        let product = Double(nanos) * self
        return product >= 18_446_744_073_709_549_568 ? .max : UInt64(product)
    }
}
