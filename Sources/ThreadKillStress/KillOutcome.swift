/// How one kill request ended, as the stress run classifies it.
///
/// Every case but ``undocumented`` is an ending the library documents for
/// the method used; ``undocumented`` fails the run.
public enum KillOutcome: String, CaseIterable, Sendable, Hashable, Comparable {
    /// `Outcome.killed` with reason `stopRequested`.
    case stopped
    /// `Outcome.killed` with reason `interrupted`.
    case killed
    /// `Outcome.threw` with exactly the error that was raised.
    case raised
    /// `Outcome.killed` with reason `cancelled`: the cancellable call was cancelled and the body unwound.
    case cancelled
    /// `Outcome.returned`: the body ended by itself before the kill took effect.
    case returned
    /// The request was refused with `alreadyFinished`: the thread had ended.
    case refused
    /// `ProcessOutcome.signaled` by the terminate ladder's `SIGTERM` or `SIGKILL`.
    case terminated
    /// `ProcessOutcome.returned` with the right value: the job finished first.
    case finished
    /// Anything else: a wrong reason, a foreign error, a hang. A failure.
    case undocumented

    public static func < (a: KillOutcome, b: KillOutcome) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    /// Whether the kill took effect (the latency of these is recorded).
    public var tookEffect: Bool {
        switch self {
        case .stopped, .killed, .raised, .cancelled, .terminated: return true
        case .returned, .refused, .finished, .undocumented: return false
        }
    }
}

/// One kill, as handed to a ``StressEngine`` observer.
public struct KillRecord: Sendable {
    /// Which worker made it.
    public let worker: Int
    /// The operation.
    public let operation: StressOperation
    /// How it ended.
    public let outcome: KillOutcome
    /// From the request to the end of the thread (join returned) or process (reaped).
    public let latency: Duration
    /// For ``KillOutcome/undocumented``: what happened instead.
    public let detail: String?
}
