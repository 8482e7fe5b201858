/// Work that ran out of time and was stopped for it: a body run by
/// ``withTimeout(_:grace:ladder:name:_:)-1pagz``, or a job run by
/// ``IsolatedProcess/run(_:input:timeout:grace:executable:)-x00p``.
///
/// Every ThreadKill call that takes a timeout *and stops the work when it
/// passes* throws this error, and only this one, for that. It carries what
/// stopping the work did, in the same fields as ``TaskCancelledError`` (the
/// other way work is stopped for you): for a thread the ladder's
/// ``StopReport`` and the thread, for a process the job's name and how it
/// ended. A wait with a timeout that does not stop anything
/// (``KillableThread/join(timeout:)``, ``IsolatedProcess/wait(timeout:)``)
/// returns nil instead.
///
/// Work that ended by itself before it could be stopped — a body that
/// returned, a job that sent its reply while being terminated — wins: its
/// value is returned, its error thrown.
///
/// ```swift
/// do {
///     let answer = try withTimeout(.seconds(2)) { ctx in try slowWork(ctx) }
/// } catch let timeout as TimeoutError {
///     print(timeout)   // thread withTimeout timed out after 2.0 s; stopped by the stop request after 58 µs (…)
/// }
/// ```
public struct TimeoutError: Error, Sendable, CustomStringConvertible {
    /// The timeout that passed.
    public let timeout: Duration
    /// For a thread: how the ladder stopped the body (or failed to:
    /// ``StopReport/stopped`` is false). Nil for a process.
    public let report: StopReport?
    /// For a thread: the thread that ran the body. When ``report`` says it was
    /// not stopped it is still running: keep trying with
    /// ``ThreadRef/stop(grace:ladder:)-9k1kz``, or wait for it with
    /// ``ThreadRef/join(timeout:)``. Nil for a process.
    public let thread: ThreadRef?
    /// For a process: the name of the job that timed out. Nil for a thread.
    public let job: String?
    /// For a process: how its job ended after ``IsolatedProcess/terminate(grace:)-8oh9w``
    /// (``ProcessOutcome/signaled(_:)`` with ``Signal/terminate`` or
    /// ``Signal/kill``, or ``ProcessOutcome/exited(_:)``). Nil for a thread.
    public let processOutcome: ProcessOutcome<Never>?

    init(timeout: Duration, report: StopReport, thread: ThreadRef) {
        self.timeout = timeout
        self.report = report
        self.thread = thread
        self.job = nil
        self.processOutcome = nil
    }

    init(timeout: Duration, job: String, processOutcome: ProcessOutcome<Never>) {
        self.timeout = timeout
        self.report = nil
        self.thread = nil
        self.job = job
        self.processOutcome = processOutcome
    }

    /// "thread *name* timed out after 2.0 s; stopped by …" or
    /// "job *name* timed out after 30 s; the job process was terminated by SIGTERM".
    public var description: String {
        let what = thread.map { "thread \($0.name)" } ?? job.map { "job \($0)" } ?? "work"
        return "\(what) timed out after \(timeout.compactDescription); " +
            stoppedWorkDescription(report: report, processOutcome: processOutcome)
    }
}

/// What stopping a thread or a process did, for ``TimeoutError`` and
/// ``TaskCancelledError``: "stopped by …" or "the job process was …".
func stoppedWorkDescription(report: StopReport?, processOutcome: ProcessOutcome<Never>?) -> String {
    if let report { return "the thread was \(report)" }
    switch processOutcome {
    case .signaled(let signal): return "the job process was terminated by \(signal)"
    case .exited(let status): return "the job process exited with status \(status)"
    case .threw(let error): return "\(error)"
    case nil: return "nothing was stopped"
    }
}

/// Runs `body` on a killable thread and returns its value, or stops it when
/// `timeout` passes and throws a ``TimeoutError`` carrying the stop report.
///
/// Works for sleeping and blocked bodies (their waits are interruptible) and
/// for CPU-bound ones whose loop runs in ``KillContext/asyncKillable(_:)``.
///
/// ```swift
/// let answer = try withTimeout(.seconds(2)) { ctx in
///     try ctx.asyncKillable { slowComputation() }
/// }
/// ```
///
/// Returns within `timeout` + `grace` (plus scheduling noise) whatever the body
/// and its stop callbacks do. When the ladder cannot stop the body, the error's
/// ``TimeoutError/thread`` is the thread still running it.
///
/// - Parameters:
///   - timeout: How long the body may run.
///   - grace: How long the escalation ladder may take to stop it after that.
///   - ladder: The steps used to stop it.
///   - name: The name of the killable thread that runs the body.
///   - body: The work. It runs on a new ``KillableThread`` with that thread's context.
/// - Throws: ``TimeoutError``; what `body` throws; ``ThreadKillError`` for a
///   negative duration or a thread that cannot start.
@available(*, noasync, message: "withTimeout blocks its thread until the body ends or is stopped; from async code use the async withTimeout")
public func withTimeout<T: Sendable>(
    _ timeout: Duration,
    grace: Duration = .seconds(1),
    ladder: StopLadder = .default,
    name: String = "withTimeout",
    _ body: @escaping @Sendable (KillContext) throws -> T
) throws -> T {
    _ = try timeout.validatedNanos("withTimeout")
    _ = try grace.validatedNanos("withTimeout(grace:)")
    let thread = try KillableThread(name: name, body)
    if let outcome = try thread.join(timeout: timeout) {
        return try outcome.get()
    }
    let result = try thread.stop(grace: grace, ladder: ladder)
    throw TimeoutError(timeout: timeout, report: result.report, thread: thread.ref)
}
