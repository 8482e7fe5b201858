#if canImport(Glibc)
import Glibc
#endif

/// What cancelling a task does to the thread (or process) it is awaiting,
/// in the async API: ``KillableThread/run(name:stackSize:daemon:stopToken:cpuBudget:tick:onCancel:_:)``,
/// ``KillableThread/join(onCancel:)``, ``KillableThread/value``, ``IsolatedProcess/wait(onCancel:)``…
///
/// ```swift
/// // Blocked I/O: the stop request wakes it at once; 5 s before giving up.
/// let line = try await KillableThread.run(onCancel: .stop(grace: .seconds(5))) { ctx in
///     try readLine(from: socket, ctx)
/// }
/// ```
public struct CancellationPolicy: Sendable, Hashable {
    /// How long stopping may take: the ladder's grace (a thread), or the time
    /// between `SIGTERM` and `SIGKILL` (a process).
    public let grace: Duration
    /// The steps used to stop a thread. A process ignores it: it gets
    /// ``IsolatedProcess/terminate(grace:)-31ats``.
    public let ladder: StopLadder

    /// Stop the work within `grace`: a thread by climbing `ladder`
    /// (``KillableThread/stop(grace:ladder:)-56y79``), a process by
    /// ``IsolatedProcess/terminate(grace:)-31ats``.
    ///
    /// A negative grace is refused with ``ThreadKillError/Code/invalidDuration``
    /// by the call that is given the policy.
    public static func stop(grace: Duration, ladder: StopLadder = .default) -> CancellationPolicy {
        CancellationPolicy(grace: grace, ladder: ladder)
    }

    /// A grace of 1 s with the default ladder: a body blocked in an
    /// interruptible call (`ctx.read`, `ctx.sleep`, `ctx.accept`…) ends at the
    /// first step, the stop request, within microseconds; the rest of the
    /// grace is for bodies that need the firmer steps.
    public static let `default` = CancellationPolicy.stop(grace: .seconds(1))

    /// The grace in nanoseconds, or a typed error naming `what`.
    func graceNanos(_ what: String) throws(ThreadKillError) -> UInt64 {
        try grace.validatedNanos(what)
    }
}

/// The task awaiting a thread (or a process) was cancelled, and the work was
/// stopped for it: what the async API throws where Swift code would throw
/// `CancellationError`.
///
/// Swift's `CancellationError` carries nothing. This error carries what
/// stopping the work did, so nothing is lost: for a thread the ladder's
/// ``StopReport`` (did it stop, which step acted, how long it took) and the
/// thread itself, which is still running when ``StopReport/stopped`` is false;
/// for a process how its job ended.
///
/// Its fields are those of ``TimeoutError`` less the timeout: a cancellation
/// and a timeout are the two ways ThreadKill stops work for you, and both say
/// what stopping it did in the same words.
///
/// It is thrown only when the work ended because of the cancellation (or did
/// not end at all). Work that ended by itself meanwhile — a body that returned
/// or threw its own error, a job that sent its reply — wins: its value is
/// returned, its error thrown.
///
/// ```swift
/// do {
///     let value = try await KillableThread.run { ctx in try blockingWork(ctx) }
/// } catch let cancelled as TaskCancelledError {
///     print(cancelled.report!)   // stopped by the stop request after 61 µs (…)
/// }
/// ```
public struct TaskCancelledError: Error, Sendable, CustomStringConvertible {
    /// For a thread: what the ladder did. Nil for a process.
    public let report: StopReport?
    /// For a thread: the thread. When ``report`` says it was not stopped it
    /// is still running: keep trying with ``ThreadRef/stop(grace:ladder:)-4gis0``.
    /// Nil for a process.
    public let thread: ThreadRef?
    /// For a process: the name of its job. Nil for a thread.
    public let job: String?
    /// For a process: how its job ended after ``IsolatedProcess/terminate(grace:)-31ats``
    /// (``ProcessOutcome/signaled(_:)`` with ``Signal/terminate`` or ``Signal/kill``, or
    /// ``ProcessOutcome/exited(_:)``). Nil for a thread. The process's full
    /// result, captured output included, stays available from its
    /// ``IsolatedProcess/wait(onCancel:)``.
    public let processOutcome: ProcessOutcome<Never>?

    init(report: StopReport, thread: ThreadRef) {
        self.report = report
        self.thread = thread
        self.job = nil
        self.processOutcome = nil
    }

    init(job: String, processOutcome: ProcessOutcome<Never>) {
        self.report = nil
        self.thread = nil
        self.job = job
        self.processOutcome = processOutcome
    }

    /// "task cancelled; the thread was stopped by …" or "task cancelled; the
    /// job process was terminated by SIGTERM".
    public var description: String {
        "task cancelled; " + stoppedWorkDescription(report: report, processOutcome: processOutcome)
    }
}
