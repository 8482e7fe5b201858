#if canImport(Glibc)
import Glibc
#endif
import CPthreadShim
import Synchronization

/// Chooses and installs the library's one real-time signal, once.
enum SignalSetup {
    private static let installed = Mutex<Int32>(0)

    /// The environment variable that overrides the probed signal.
    static let environmentVariable = "THREADKILL_SIGNAL"

    static var current: Int32? {
        let sig = installed.withMaskedLock { $0 }
        return sig == 0 ? nil : sig
    }

    private static let handlerLost = Atomic(false)

    /// Whether the handler is still ours (someone may have replaced it).
    static var isHandlerInstalled: Bool {
        guard let sig = current else { return false }
        return !handlerLost.load(ordering: .relaxed) && CPthreadShim_signal_state(sig) == CPthreadShim_SIGNAL_OURS
    }

    /// Looks again at the signal's disposition, off the kill path: called
    /// when a kill was resent for the whole window without landing.
    static func recheck() {
        guard let sig = current, CPthreadShim_signal_state(sig) != CPthreadShim_SIGNAL_OURS else { return }
        if !handlerLost.exchange(true, ordering: .relaxed) {
            KillEvents.emitLater { [KillEvent(.signalHandlerReplaced, thread: nil, signal: Signal(rawValue: sig))] }
        }
    }

    /// Installs the handler on first use and returns the signal.
    static func ensureInstalled() throws(ThreadKillError) -> Int32 {
        try installed.withMaskedLock { (sig: inout Int32) throws(ThreadKillError) -> Int32 in
            if sig != 0 { return sig }
            let candidate: Int32
            if let text = getenv(environmentVariable).map({ String(cString: $0) }) {
                guard let value = Int32(text) else {
                    throw ThreadKillError(.invalidArgument, "\(environmentVariable)=\(text) is not a signal number")
                }
                candidate = value
            } else {
                candidate = CPthreadShim_signal_probe()
                guard candidate != 0 else {
                    throw ThreadKillError(.noFreeSignal, "no free real-time signal between SIGRTMIN and SIGRTMAX-6")
                }
            }
            try install(candidate)
            sig = candidate
            return candidate
        }
    }

    /// Installs `signal` now, or confirms it is the one already installed.
    static func use(_ signal: Int32) throws(ThreadKillError) {
        try installed.withMaskedLock { (sig: inout Int32) throws(ThreadKillError) in
            if sig == signal { return }
            try checkAvailable(signal)
            if sig != 0 {
                throw ThreadKillError(.signalAlreadyChosen, context: .init(signal: sig), "ThreadKill already uses signal \(sig); it can be chosen only once, before the first killable thread")
            }
            try install(signal)
            sig = signal
        }
    }

    private static func install(_ signal: Int32) throws(ThreadKillError) {
        try checkAvailable(signal)
        let err = CPthreadShim_signal_install(signal)
        if err != 0 { throw .system("sigaction", err) }
    }

    /// Refuses a signal that is not real-time or that someone else handles.
    private static func checkAvailable(_ signal: Int32) throws(ThreadKillError) {
        let low = CPthreadShim_sigrtmin(), high = CPthreadShim_sigrtmax()
        guard signal >= low && signal <= high else {
            throw ThreadKillError(.invalidArgument, "signal \(signal) is not a real-time signal (\(low)...\(high))")
        }
        switch CPthreadShim_signal_state(signal) {
        case Int32(CPthreadShim_SIGNAL_DEFAULT), Int32(CPthreadShim_SIGNAL_OURS):
            return
        default:
            throw ThreadKillError(.signalInUse, context: .init(signal: signal), "signal \(signal) is already handled or ignored by someone else; choose another with \(environmentVariable) or KillableThreads.useSignal(_:)")
        }
    }
}
