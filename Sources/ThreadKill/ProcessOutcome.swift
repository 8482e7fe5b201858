#if canImport(Glibc)
import Glibc
#endif

/// How a job run by an ``IsolatedProcess`` ended.
///
/// A worker that sent back a complete reply ended by itself: its reply wins
/// over its exit status. Otherwise the status says what happened.
public enum ProcessOutcome<Output: Sendable>: Sendable {
    /// The job returned this value.
    case returned(Output)
    /// The job threw; the error was carried back as a description.
    case threw(IsolatedJobError)
    /// The process exited with this status without sending a reply (the job
    /// called `exit`; or the worker found its parent already gone: 125; or
    /// its supervisor could not fork the job: 126).
    case exited(Int32)
    /// The process was killed by this signal without sending a reply: a crash
    /// (`SIGILL`, `SIGTRAP`, `SIGSEGV`...), or ``IsolatedProcess/terminate(grace:)``
    /// and ``IsolatedProcess/kill()`` (`SIGTERM`, `SIGKILL`).
    case signaled(Int32)

    /// The returned value, or nil.
    public var value: Output? {
        if case .returned(let value) = self { return value }
        return nil
    }

    /// The returned value.
    ///
    /// - Throws: The carried-back ``IsolatedJobError`` if the job threw;
    ///   ``ThreadKillError`` if the process ended without a reply.
    public func get() throws -> Output {
        switch self {
        case .returned(let value): return value
        case .threw(let error): throw error
        case .exited(let status):
            throw ThreadKillError(.processEnded, "the job process exited with status \(status) without a reply")
        case .signaled(let signal):
            throw ThreadKillError(.processEnded, "the job process was killed by signal \(signal) (\(String(cString: strsignal(signal)))) without a reply")
        }
    }
}

/// An error a job threw in its child process, carried back to the parent.
///
/// The error itself cannot cross the process boundary; its type name and
/// description do.
public struct IsolatedJobError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The job that threw.
    public let job: String
    /// The thrown error's type, as `String(reflecting:)` spells it.
    public let typeName: String
    /// The thrown error's `String(describing:)`.
    public let message: String

    /// An error carried back from the job `job`.
    public init(job: String, typeName: String, message: String) {
        self.job = job
        self.typeName = typeName
        self.message = message
    }

    /// "job *name* threw *type*: *message*".
    public var description: String { "job \(job) threw \(typeName): \(message)" }
}

/// Where a child's standard output or standard error goes.
public enum ProcessOutputMode: Sendable, Hashable {
    /// The child writes to the parent's stream.
    case inherit
    /// The child writes to a pipe; the bytes come back in ``ProcessResult``.
    case capture
    /// The child writes to `/dev/null`.
    case discard
}

/// An ended ``IsolatedProcess``: how its job ended, and what it wrote.
public struct ProcessResult<Output: Sendable>: Sendable {
    /// How the job ended.
    public let outcome: ProcessOutcome<Output>
    /// Everything the child wrote to standard output, if it was captured.
    ///
    /// Everything the job and its descendants wrote is included: the child
    /// ends only after all of them have been killed, and the pipe is then
    /// read to its end.
    public let standardOutput: [UInt8]?
    /// Everything the child wrote to standard error, if it was captured.
    public let standardError: [UInt8]?
}

extension ProcessOutcome: Equatable where Output: Equatable {}
