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
    /// (`SIGILL`, `SIGTRAP`, `SIGSEGV`...), or ``IsolatedProcess/terminate(grace:)-8oh9w``
    /// and ``IsolatedProcess/kill()-5z6sf`` (`SIGTERM`, `SIGKILL`).
    case signaled(Signal)

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
            throw ThreadKillError(.processEnded, "the job process was killed by \(signal) without a reply")
        }
    }
}

extension ProcessOutcome {
    /// How a job that sent no reply ended, without the output type; nil when
    /// it replied (its value or its error wins over a stop that came too late).
    var withoutReply: ProcessOutcome<Never>? {
        switch self {
        case .returned, .threw: return nil
        case .exited(let status): return .exited(status)
        case .signaled(let signal): return .signaled(signal)
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
///
/// ```swift
/// let process = try IsolatedProcess.start(job, input: x,
///                                         standardOutput: .capture(limit: 1 << 20),
///                                         standardError: .stream { chunk in log(chunk) })
/// ```
///
/// Capturing keeps at most a limit of bytes in the parent, so a job that
/// writes without end cannot exhaust the parent's memory: the rest is read and
/// dropped, and ``ProcessResult`` says how many bytes were dropped.
public struct ProcessOutputMode: Sendable {
    enum Kind: Sendable {
        case inherit
        case discard
        case capture(limit: Int)
        case stream(@Sendable ([UInt8]) -> Void)
    }

    let kind: Kind

    private init(_ kind: Kind) { self.kind = kind }

    /// How many bytes ``capture`` keeps per stream: 16 MiB.
    public static let defaultCaptureLimit = 16 << 20

    /// The child writes to the parent's stream.
    public static let inherit = ProcessOutputMode(.inherit)

    /// The child writes to `/dev/null`.
    public static let discard = ProcessOutputMode(.discard)

    /// The child writes to a pipe; the first ``defaultCaptureLimit`` bytes
    /// come back in ``ProcessResult``, the rest are read and dropped.
    public static var capture: ProcessOutputMode { ProcessOutputMode(.capture(limit: defaultCaptureLimit)) }

    /// The child writes to a pipe; the first `limit` bytes come back in
    /// ``ProcessResult``, the rest are read and dropped (and counted).
    ///
    /// - Parameter limit: At least 1. ``IsolatedProcess/start(_:input:executable:standardOutput:standardError:)``
    ///   refuses a smaller one with ``ThreadKillError/Code/invalidArgument``.
    public static func capture(limit: Int) -> ProcessOutputMode { ProcessOutputMode(.capture(limit: limit)) }

    /// The child writes to a pipe; every chunk read from it is handed to
    /// `handler`, in order, and nothing is kept (the ``ProcessResult`` stream is nil).
    ///
    /// `handler` runs on the thread that is waiting for the process (inside
    /// ``IsolatedProcess/wait()``, ``IsolatedProcess/terminate(grace:)-8oh9w``...),
    /// one call at a time; while nobody waits, the pipe fills and the child
    /// blocks on its next write. It must not wait for the same process.
    public static func stream(_ handler: @escaping @Sendable ([UInt8]) -> Void) -> ProcessOutputMode {
        ProcessOutputMode(.stream(handler))
    }
}

/// An ended ``IsolatedProcess``: how its job ended, and what it wrote.
public struct ProcessResult<Output: Sendable>: Sendable {
    /// How the job ended.
    public let outcome: ProcessOutcome<Output>
    /// What the child wrote to standard output, if it was captured: all of
    /// it, or its first bytes up to the capture limit (see
    /// ``standardOutputDroppedBytes``).
    ///
    /// Everything the job and its descendants wrote counts: the child ends
    /// only after all of them have been killed, and the pipe is then read to
    /// its end.
    public let standardOutput: [UInt8]?
    /// What the child wrote to standard error, if it was captured (see
    /// ``standardErrorDroppedBytes``).
    public let standardError: [UInt8]?
    /// How many bytes of standard output were read past the capture limit
    /// and dropped; 0 when ``standardOutput`` is complete or not captured.
    public let standardOutputDroppedBytes: Int
    /// How many bytes of standard error were read past the capture limit
    /// and dropped; 0 when ``standardError`` is complete or not captured.
    public let standardErrorDroppedBytes: Int

    /// Whether a captured stream was cut at its limit.
    public var isOutputTruncated: Bool { standardOutputDroppedBytes > 0 || standardErrorDroppedBytes > 0 }
}

extension ProcessOutcome: Equatable where Output: Equatable {}
