import CPthreadShim

/// How often kills were delivered into a thread's async regions, and how often
/// the handler declined to jump, by reason.
public struct InjectionStatistics: Sendable, Hashable, CustomStringConvertible {
    /// Why the handler declined a jump.
    public enum DeclineReason: String, Sendable, CaseIterable, Hashable {
        case masked = "masked"
        case signalMask = "signal mask changed"
        case foreignCode = "PC in a library, the runtime or the shim"
        case foreignFrame = "a caller frame is foreign"
        case libraryCallbackPrologue = "callback from a library, in its prologue"
        case exclusiveAccess = "Swift exclusive access in progress"
        /// The PC is in no loaded object: JIT-compiled or generated code in
        /// anonymous executable pages. To stop such code, run it in an
        /// ``IsolatedProcess``.
        case anonymousCode = "code outside any loaded object, e.g. JIT"

        var cValue: Int32 {
            switch self {
            case .masked: return Int32(CPthreadShim_DECLINE_MASKED)
            case .signalMask: return Int32(CPthreadShim_DECLINE_SIGMASK)
            case .foreignCode: return Int32(CPthreadShim_DECLINE_PC)
            case .foreignFrame: return Int32(CPthreadShim_DECLINE_FRAME)
            case .libraryCallbackPrologue: return Int32(CPthreadShim_DECLINE_STACK_WORD)
            case .exclusiveAccess: return Int32(CPthreadShim_DECLINE_EXCLUSIVITY)
            case .anonymousCode: return Int32(CPthreadShim_DECLINE_ANON_CODE)
            }
        }
    }

    /// Kills that landed by a jump.
    public var jumps: Int
    /// Of ``jumps``, those that landed as the Swift runtime returned into the
    /// region's code: the handler found the thread in the runtime, replaced
    /// the return address of the runtime's outermost frame, and the return
    /// itself delivered the kill (Docs/SafetyModel.md, "Hijacked returns").
    public var jumpsOnReturn: Int
    /// Return addresses the handler replaced (one per thread at a time).
    public var returnsHijacked: Int
    /// Retries the handler armed after a decline: the thread's own timer
    /// signals it again 100 µs on, needing no other thread to run. They end
    /// 10 ms after the kill's ``KillableThreads/resendWindow``
    /// (Docs/SafetyModel.md, "Retries").
    public var retries: Int
    /// Declined jumps, by reason.
    public var declines: [DeclineReason: Int]

    /// All declines.
    public var totalDeclines: Int { declines.values.reduce(0, +) }

    init(block: UnsafeMutablePointer<CPthreadShim_block>) {
        jumps = Int(CPthreadShim_jumps(block))
        jumpsOnReturn = Int(CPthreadShim_landed_on_return(block))
        returnsHijacked = Int(CPthreadShim_returns_hijacked(block))
        retries = Int(CPthreadShim_retries(block))
        declines = [:]
        for reason in DeclineReason.allCases {
            let count = Int(CPthreadShim_declines(block, reason.cValue))
            if count > 0 { declines[reason] = count }
        }
    }

    mutating func subtract(_ earlier: InjectionStatistics) {
        jumps -= earlier.jumps
        jumpsOnReturn -= earlier.jumpsOnReturn
        returnsHijacked -= earlier.returnsHijacked
        retries -= earlier.retries
        for (reason, count) in earlier.declines {
            let left = (declines[reason] ?? 0) - count
            declines[reason] = left > 0 ? left : nil
        }
    }

    public var description: String {
        let parts = declines.sorted { $0.value > $1.value }.map { "\($0.key.rawValue): \($0.value)" }
        return "\(jumps) jumps (\(jumpsOnReturn) at a hijacked return), \(totalDeclines) declines" + (parts.isEmpty ? "" : " (" + parts.joined(separator: ", ") + ")")
    }
}
