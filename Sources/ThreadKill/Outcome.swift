/// How a killable thread ended: by itself (it returned or threw its own
/// error), or because a kill ended it.
///
/// Which kill — a stop request, an interrupt, a CPU budget, a cancel — is the
/// report's ``KillReport/reason``, so a new kind of kill is a new
/// ``KillError/Reason``, not a new case here:
///
/// ```swift
/// switch try thread.join() {
/// case .returned(let value): use(value)
/// case .threw(let error): log(error)
/// case .killed(let report) where report.reason == .stopRequested: print("stopped")
/// case .killed(let report): print("killed: \(report)")
/// }
/// ```
public enum Outcome<Value: Sendable>: Sendable {
    /// The body returned this value.
    case returned(Value)
    /// The body threw one of its own errors (not a ``KillError``).
    case threw(any Error)
    /// A kill ended the body: a ``KillError`` escaped it. The report's
    /// ``KillReport/reason`` says which kill — ``KillError/Reason/stopRequested``
    /// (a stop), ``KillError/Reason/interrupted``, ``KillError/Reason/cpuBudgetExceeded``,
    /// or ``KillError/Reason/cancelled`` (``KillableThread/cancel()`` cancelled one of
    /// its cancellable C calls).
    case killed(KillReport)

    /// The returned value, or nil.
    public var value: Value? {
        if case .returned(let value) = self { return value }
        return nil
    }

    /// The report of the kill that ended the thread, or nil if it ended by itself.
    public var report: KillReport? {
        switch self {
        case .killed(let report): return report
        case .returned, .threw: return nil
        }
    }
}

extension Outcome {
    /// The returned value, or the error that ended the body: its own error,
    /// or the ``KillError`` of the kill.
    public func get() throws -> Value {
        switch self {
        case .returned(let value): return value
        case .threw(let error): throw error
        case .killed(let report):
            throw KillError(reason: report.reason, id: report.killID)
        }
    }
}

/// What a kill did: which kill, why, and how long it took to end the thread.
public struct KillReport: Sendable, CustomStringConvertible {
    /// The kill that ended the thread.
    public let killID: KillID
    /// Why it was delivered.
    public let reason: KillError.Reason
    /// From the kill request to the end of the thread's body.
    public let latency: Duration
    /// How many times the body caught this kill and carried on before it
    /// ended the thread. Only sticky kills (a stop, a cancel that acted) are
    /// thrown again after being caught; a catch-all around a delivery point
    /// swallows one per pass.
    public let timesSwallowed: Int

    init(kill: KillError, endedAt: UInt64, timesThrown: Int = 1) {
        killID = kill.id
        reason = kill.reason
        latency = .nanoseconds(endedAt > kill.requestedAt ? endedAt - kill.requestedAt : 0)
        timesSwallowed = max(0, timesThrown - 1)
    }

    public var description: String {
        "\(reason.rawValue) (kill #\(killID.rawValue)), ended after \(latency.compactDescription)" +
            (timesSwallowed > 0 ? ", swallowed \(timesSwallowed) times first" : "")
    }
}
