#if canImport(Glibc)
import Glibc
#endif

/// A request ThreadKill refused, or a system call that failed.
///
/// Kills delivered *into* a thread are never this type: they are ``KillError``.
/// This type says that an operation on a thread or a process could not be
/// carried out, and why, so that bad input never turns into undefined behaviour.
///
/// Match on ``code`` with `==` (`error.code == .alreadyFinished`); details
/// that belong to one code — the system call, the signal, the job — are in
/// ``context``. Only ThreadKill creates these errors. New codes may be added
/// in any release: a `switch` over codes needs a `default`.
public struct ThreadKillError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong. A closed set today, open to new codes tomorrow
    /// (a struct, not an enum, so adding one is not a source break).
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Storage: Hashable, Sendable {
            case alreadyFinished, callingThread, mainThread, notOwned, notInThisProcess
            case invalidDuration, invalidArgument
            case signalInUse, noFreeSignal, signalAlreadyChosen
            case unknownJob, jobCoding, processEnded
            case injectionUnavailable, systemCall
        }

        let storage: Storage

        init(_ storage: Storage) { self.storage = storage }

        /// The thread has already finished: it was not signalled.
        public static let alreadyFinished = Code(.alreadyFinished)
        /// The operation targets the calling thread. Throw instead.
        public static let callingThread = Code(.callingThread)
        /// The operation targets the process's main thread, which ThreadKill never kills.
        public static let mainThread = Code(.mainThread)
        /// The thread was not started by ThreadKill (for example a Dispatch or
        /// Swift-concurrency pool thread, which blocks every real-time signal).
        public static let notOwned = Code(.notOwned)
        /// The thread belongs to the process this one was forked from: in a
        /// forked child only the thread that called `fork()` exists.
        public static let notInThisProcess = Code(.notInThisProcess)
        /// A duration was negative.
        public static let invalidDuration = Code(.invalidDuration)
        /// An argument was out of range; the message says which.
        public static let invalidArgument = Code(.invalidArgument)
        /// The signal (``Context/signal``) is already handled or ignored by someone else.
        public static let signalInUse = Code(.signalInUse)
        /// Every candidate real-time signal is in use.
        public static let noFreeSignal = Code(.noFreeSignal)
        /// A different signal (``Context/signal``) was already installed; it can be chosen only once.
        public static let signalAlreadyChosen = Code(.signalAlreadyChosen)
        /// No isolated job of this name (``Context/job``) is registered in the executable.
        public static let unknownJob = Code(.unknownJob)
        /// A job's input or output could not be encoded or decoded.
        public static let jobCoding = Code(.jobCoding)
        /// A job process ended without sending its reply.
        public static let processEnded = Code(.processEnded)
        /// Async regions cannot work in this process (see the message).
        public static let injectionUnavailable = Code(.injectionUnavailable)
        /// A system call (``Context/systemCall``) failed with ``underlyingError``.
        public static let systemCall = Code(.systemCall)

        /// The code's name, such as `alreadyFinished`.
        public var description: String { "\(storage)" }
    }

    /// Details that belong to some codes.
    public struct Context: Hashable, Sendable {
        /// The system call that failed (``Code/systemCall``).
        public let systemCall: String?
        /// The signal concerned (``Code/signalInUse``, ``Code/signalAlreadyChosen``).
        public let signal: Signal?
        /// The job concerned (``Code/unknownJob``).
        public let job: String?

        init(systemCall: String? = nil, signal: Int32? = nil, job: String? = nil) {
            self.systemCall = systemCall
            self.signal = signal.map(Signal.init(unchecked:))
            self.job = job
        }
    }

    /// An `errno` value behind a failure.
    public struct UnderlyingError: Error, Hashable, Sendable, RawRepresentable, CustomStringConvertible {
        /// The `errno` value.
        public let rawValue: Int32
        /// The error for `errno` value `rawValue`.
        public init(rawValue: Int32) { self.rawValue = rawValue }
        /// "errno N: " and the system's text for it (`strerror`).
        public var description: String { "errno \(rawValue): \(String(cString: strerror(rawValue)))" }
    }

    /// What went wrong.
    public let code: Code
    /// Details that belong to the code, if any.
    public let context: Context
    /// The `errno` behind a failed system call, if any.
    public let underlyingError: UnderlyingError?
    /// A sentence for people: what happened and what to do instead.
    public let message: String

    init(_ code: Code, errno: Int32? = nil, context: Context = Context(), _ message: String) {
        self.code = code
        self.context = context
        self.underlyingError = errno.map(UnderlyingError.init(rawValue:))
        self.message = message
    }

    public var description: String {
        if let underlyingError { return "\(message) (\(underlyingError))" }
        return message
    }

    static func alreadyFinished(_ what: String) -> ThreadKillError {
        ThreadKillError(.alreadyFinished, "\(what): the thread has already finished")
    }
    static func callingThread(_ what: String) -> ThreadKillError {
        ThreadKillError(.callingThread, "\(what): refusing to target the calling thread; throw instead")
    }
    static func invalidDuration(_ what: String, _ duration: Duration) -> ThreadKillError {
        ThreadKillError(.invalidDuration, "\(what): duration must not be negative, got \(duration)")
    }
    static func notInThisProcess(_ what: String) -> ThreadKillError {
        ThreadKillError(.notInThisProcess, "\(what): the thread does not exist in this process, which was forked from the one that started it (only the thread that called fork() exists in a child)")
    }
    static func system(_ call: String, _ err: Int32) -> ThreadKillError {
        ThreadKillError(.systemCall, errno: err, context: Context(systemCall: call), "\(call) failed")
    }
}
