#if canImport(Glibc)
import Glibc
#endif
import CPthreadShim

/// A POSIX signal: the one ThreadKill uses, one that ended a job process, one
/// that a refusal names.
///
/// A value always holds a signal that exists on this system (1 through
/// `SIGRTMAX`); build one from a number with ``init(_:)`` (which says what is
/// wrong with a bad number) or ``init(rawValue:)`` (nil for a bad number).
///
/// ```swift
/// try KillableThreads.useSignal(.realtime(3))      // SIGRTMIN+3
/// if case .signaled(let signal) = result.outcome, signal == .segmentationFault { … }
/// print(Signal.terminate)                           // SIGTERM
/// ```
public struct Signal: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The signal's number, as the C API spells it (`SIGTERM` is 15).
    public let rawValue: Int32

    /// The signal numbered `rawValue`, or nil if there is no such signal
    /// (0, a negative number, or one above `SIGRTMAX`).
    public init?(rawValue: Int32) {
        guard Signal.isValid(rawValue) else { return nil }
        self.rawValue = rawValue
    }

    /// The signal numbered `number`.
    ///
    /// - Throws: ``ThreadKillError/Code/invalidArgument`` if there is no such
    ///   signal (0, a negative number, or one above `SIGRTMAX`).
    public init(_ number: Int32) throws(ThreadKillError) {
        guard let signal = Signal(rawValue: number) else {
            throw ThreadKillError(.invalidArgument, "signal \(number) does not exist: signals are 1...\(CPthreadShim_sigrtmax())")
        }
        self = signal
    }

    /// A number the kernel or libc handed us: always a signal.
    init(unchecked rawValue: Int32) {
        self.rawValue = rawValue
    }

    static func isValid(_ number: Int32) -> Bool {
        number >= 1 && number <= CPthreadShim_sigrtmax()
    }

    /// `SIGRTMIN` + `offset`: a real-time signal, as chosen for
    /// ``KillableThreads/useSignal(_:)``. `SIGRTMIN` is not a constant in C
    /// (glibc reserves the first real-time signals for itself), so neither is this.
    ///
    /// - Throws: ``ThreadKillError/Code/invalidArgument`` if `offset` is
    ///   negative or beyond `SIGRTMAX`.
    public static func realtime(_ offset: Int) throws(ThreadKillError) -> Signal {
        let low = Int(CPthreadShim_sigrtmin()), high = Int(CPthreadShim_sigrtmax())
        guard offset >= 0 && offset <= high - low else {
            throw ThreadKillError(.invalidArgument, "realtime(\(offset)): the real-time signals are SIGRTMIN+0...SIGRTMIN+\(high - low)")
        }
        return Signal(unchecked: Int32(low + offset))
    }

    /// Whether this is a real-time signal (`SIGRTMIN`...`SIGRTMAX`), the only
    /// kind ``KillableThreads/useSignal(_:)`` accepts.
    public var isRealtime: Bool {
        rawValue >= CPthreadShim_sigrtmin() && rawValue <= CPthreadShim_sigrtmax()
    }

    /// `SIGHUP`.
    public static let hangup = Signal(unchecked: SIGHUP)
    /// `SIGINT`.
    public static let interrupt = Signal(unchecked: SIGINT)
    /// `SIGQUIT`.
    public static let quit = Signal(unchecked: SIGQUIT)
    /// `SIGILL`: an illegal instruction (Swift's traps on some architectures).
    public static let illegalInstruction = Signal(unchecked: SIGILL)
    /// `SIGTRAP`: a trap (Swift's `fatalError`, a failed precondition, on x86_64).
    public static let trap = Signal(unchecked: SIGTRAP)
    /// `SIGABRT`.
    public static let abort = Signal(unchecked: SIGABRT)
    /// `SIGBUS`.
    public static let busError = Signal(unchecked: SIGBUS)
    /// `SIGFPE`.
    public static let floatingPointException = Signal(unchecked: SIGFPE)
    /// `SIGKILL`: cannot be caught, blocked or ignored.
    public static let kill = Signal(unchecked: SIGKILL)
    /// `SIGUSR1`.
    public static let user1 = Signal(unchecked: SIGUSR1)
    /// `SIGSEGV`.
    public static let segmentationFault = Signal(unchecked: SIGSEGV)
    /// `SIGUSR2`.
    public static let user2 = Signal(unchecked: SIGUSR2)
    /// `SIGPIPE`.
    public static let pipe = Signal(unchecked: SIGPIPE)
    /// `SIGALRM`.
    public static let alarm = Signal(unchecked: SIGALRM)
    /// `SIGTERM`: the polite request to end, which
    /// ``IsolatedProcess/terminate(grace:)-8oh9w`` sends first.
    public static let terminate = Signal(unchecked: SIGTERM)
    /// `SIGCHLD`.
    public static let child = Signal(unchecked: SIGCHLD)
    /// `SIGCONT`.
    public static let resume = Signal(unchecked: SIGCONT)
    /// `SIGSTOP`: cannot be caught, blocked or ignored.
    public static let suspend = Signal(unchecked: SIGSTOP)

    private static let names: [Int32: String] = [
        SIGHUP: "SIGHUP", SIGINT: "SIGINT", SIGQUIT: "SIGQUIT", SIGILL: "SIGILL",
        SIGTRAP: "SIGTRAP", SIGABRT: "SIGABRT", SIGBUS: "SIGBUS", SIGFPE: "SIGFPE",
        SIGKILL: "SIGKILL", SIGUSR1: "SIGUSR1", SIGSEGV: "SIGSEGV", SIGUSR2: "SIGUSR2",
        SIGPIPE: "SIGPIPE", SIGALRM: "SIGALRM", SIGTERM: "SIGTERM", SIGSTKFLT: "SIGSTKFLT",
        SIGCHLD: "SIGCHLD", SIGCONT: "SIGCONT", SIGSTOP: "SIGSTOP", SIGTSTP: "SIGTSTP",
        SIGTTIN: "SIGTTIN", SIGTTOU: "SIGTTOU", SIGURG: "SIGURG", SIGXCPU: "SIGXCPU",
        SIGXFSZ: "SIGXFSZ", SIGVTALRM: "SIGVTALRM", SIGPROF: "SIGPROF", SIGWINCH: "SIGWINCH",
        SIGIO: "SIGIO", SIGPWR: "SIGPWR", SIGSYS: "SIGSYS",
    ]

    /// The C name: "SIGTERM", "SIGRTMIN+3"; "signal 32" for the two numbers
    /// glibc keeps below `SIGRTMIN` for itself.
    public var description: String {
        if let name = Signal.names[rawValue] { return name }
        let low = CPthreadShim_sigrtmin()
        if rawValue >= low && rawValue <= CPthreadShim_sigrtmax() { return "SIGRTMIN+\(rawValue - low)" }
        return "signal \(rawValue)"
    }
}
