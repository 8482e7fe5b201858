/// A body that did not finish within its timeout, and what stopping it took.
public struct TimeoutError: Error, Sendable, CustomStringConvertible {
    /// The timeout that passed.
    public let timeout: Duration
    /// How the ladder stopped the body (or failed to: `report.stopped` is false).
    public let report: StopReport
    /// The thread that ran the body. When `report.stopped` is false it is
    /// still running: keep trying with ``ThreadRef/stop(grace:ladder:)-9k1kz``, or
    /// wait for it with ``ThreadRef/join(timeout:)``.
    public let thread: ThreadRef

    public var description: String { "timed out after \(timeout.compactDescription); \(report)" }
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
