#if canImport(Glibc)
import Glibc
#endif

/// A request ThreadKill refused, or a system call that failed.
///
/// Kills delivered *into* a thread are never this type: they are ``KillError``.
/// This type says that an operation on a thread could not be carried out, and
/// why, so that bad input never turns into undefined behaviour.
public struct ThreadKillError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong.
    public enum Code: Hashable, Sendable {
        /// The thread has already finished: it was not signalled.
        case alreadyFinished
        /// The operation targets the calling thread. Throw instead.
        case callingThread
        /// The operation targets the process's main thread, which ThreadKill never kills.
        case mainThread
        /// The thread was not started by ThreadKill (for example a Dispatch or
        /// Swift-concurrency pool thread, which blocks every real-time signal).
        case notOwned
        /// A duration was negative.
        case invalidDuration
        /// An argument was out of range; the message says which.
        case invalidArgument
        /// The signal is already handled or ignored by someone else.
        case signalInUse(Int32)
        /// Every candidate real-time signal is in use.
        case noFreeSignal
        /// A different signal was already installed; it can be chosen only once.
        case signalAlreadyChosen(Int32)
        /// No isolated job of this name is registered in the executable.
        case unknownJob(String)
        /// A job's input or output could not be encoded or decoded.
        case jobCoding
        /// An operation with a timeout did not finish in time (the work was stopped).
        case timedOut
        /// A job process ended without sending its reply.
        case processEnded
        /// Async regions cannot work in this process (see the message).
        case injectionUnavailable
        /// A system call failed with the attached `errno`.
        case systemCall(String)
        /// The thread belongs to the process this one was forked from: in a
        /// forked child only the thread that called `fork()` exists.
        case notInThisProcess
    }

    /// What went wrong.
    public var code: Code
    /// The `errno` value behind a failed system call, if any.
    public var errno: Int32?
    /// A sentence for people.
    public var message: String

    public init(_ code: Code, errno: Int32? = nil, _ message: String) {
        self.code = code
        self.errno = errno
        self.message = message
    }

    public var description: String {
        if let errno {
            return "\(message) (errno \(errno): \(String(cString: strerror(errno))))"
        }
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
        ThreadKillError(.systemCall(call), errno: err, "\(call) failed")
    }
}
