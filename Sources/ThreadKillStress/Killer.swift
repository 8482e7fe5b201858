import ThreadKill

/// The error a ``StressMethod/raise`` kill injects; it names its operation,
/// so the outcome must carry back exactly this one.
struct StressRaised: Error, Hashable, CustomStringConvertible {
    let worker: Int
    let operation: Int
    var description: String { "raised into worker \(worker) operation \(operation)" }
}

/// How each thread-targeting method sends its kill, and which endings the
/// library documents for it. A new method adds one case to each switch.
enum Killer {
    /// Sends the kill. Returns nil if it went out, or why it did not.
    static func fire(_ method: StressMethod, at target: ThreadRef, raising error: StressRaised) -> KillOutcome? {
        do {
            switch method {
            case .stop:
                try target.requestStop()
            case .interrupt, .async:
                try target.interrupt()
            case .raise:
                // One raise per thread: a drop would mean someone else raised first.
                if !(try target.raise(error)) { return .undocumented }
            case .cancel:
                try target.cancel()
            case .process:
                preconditionFailure("the process method has its own operation, not a thread killer")
            }
            return nil
        } catch {
            return error.code == .alreadyFinished ? .refused : .undocumented
        }
    }

    /// Classifies how the thread ended after a kill that went out.
    static func classify(_ method: StressMethod, _ outcome: Outcome<UInt64>, raised: StressRaised) -> (KillOutcome, String?) {
        switch (method, outcome) {
        case (_, .returned):
            return (.returned, nil)
        case (.stop, .killed(let report)) where report.reason == .stopRequested:
            return (.stopped, nil)
        case (.interrupt, .killed(let report)) where report.reason == .interrupted,
             (.async, .killed(let report)) where report.reason == .interrupted:
            return (.killed, nil)
        case (.raise, .threw(let error)) where (error as? StressRaised) == raised:
            return (.raised, nil)
        case (.cancel, .killed(let report)) where report.reason == .cancelled:
            return (.cancelled, nil)
        default:
            return (.undocumented, "\(method.rawValue) ended the thread as \(outcome)")
        }
    }
}
