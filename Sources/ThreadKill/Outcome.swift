/// How a killable thread ended.
public enum Outcome<Value: Sendable>: Sendable {
    /// The body returned this value.
    case returned(Value)
    /// The body threw one of its own errors (not a ``KillError``).
    case threw(any Error)
    /// The body ended because a stop was requested (a ``KillError`` with reason
    /// ``KillError/Reason/stopRequested`` escaped it).
    case stopped(KillReport)
    /// The body ended because another kill reached it (interrupt, CPU budget).
    case killed(KillReport)
    /// The body ended because ``KillableThread/cancel()`` cancelled one of its
    /// cancellable C calls (a ``KillError`` with reason ``KillError/Reason/cancelled`` escaped it).
    case cancelled(KillReport)

    /// The returned value, or nil.
    public var value: Value? {
        if case .returned(let value) = self { return value }
        return nil
    }

    /// The report of the kill that ended the thread, or nil if it ended by itself.
    public var report: KillReport? {
        switch self {
        case .stopped(let report), .killed(let report), .cancelled(let report): return report
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
        case .stopped(let report), .killed(let report), .cancelled(let report):
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
