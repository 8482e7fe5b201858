#if canImport(Glibc)
import Glibc
#endif

// The async front door for isolated processes. The pump that reads a child's
// pipes and watches its pidfd is a blocking loop: it runs on a ThreadKill
// service thread (`threadkill-wait`), and the awaiting task is resumed when it
// is done. No Swift-concurrency pool thread waits. Docs/Async.md.

extension IsolatedProcess {
    /// Runs `job` in a child process and returns its output, suspending the
    /// task meanwhile: the async twin of ``run(_:input:timeout:grace:executable:)``.
    ///
    /// The spawn, the wait and the termination run on ThreadKill service
    /// threads. When `timeout` passes, or the task is cancelled, the child is
    /// stopped with ``terminate(grace:)-31ats`` (`SIGTERM`, up to `grace`, `SIGKILL`).
    ///
    /// ```swift
    /// let image = try await IsolatedProcess.run(render, input: scene, timeout: .seconds(30))
    /// ```
    ///
    /// - Returns: What the job returned (also when the task was cancelled but
    ///   the job had already sent its reply).
    /// - Throws: ``TimeoutError`` (with ``TimeoutError/processOutcome``) when
    ///   `timeout` passed and the job was terminated; ``TaskCancelledError``
    ///   (with ``TaskCancelledError/processOutcome``) when the task was
    ///   cancelled and the job was terminated; the job's carried-back
    ///   ``IsolatedJobError``; ``ThreadKillError`` for a negative duration
    ///   (``ThreadKillError/Code/invalidDuration``), a process that ended
    ///   without a reply (``ThreadKillError/Code/processEnded``), or a failed start.
    public static func run<Input>(
        _ job: IsolatedJob<Input, Output>,
        input: Input,
        timeout: Duration,
        grace: Duration = .seconds(1),
        executable: String? = nil
    ) async throws -> Output {
        let timeoutNanos = try timeout.validatedNanos("IsolatedProcess.run(timeout:)")
        _ = try grace.validatedNanos("IsolatedProcess.run(grace:)")
        // The spawner thread spawns; waiting for it is brief, but a wait all the same.
        let started = await AsyncBridge.pool.value {
            Result { () throws(ThreadKillError) -> IsolatedProcess<Output> in try start(job, input: input, executable: executable) }
        }
        let process = try started.get()
        if let result = try await process.wait(timeoutNanos: timeoutNanos, onCancel: .stop(grace: grace), "IsolatedProcess.run") {
            return try result.outcome.get()
        }
        let result = try await process.terminate(grace: grace)
        return try outputAfterTimeout(result, job: job.name, timeout: timeout)
    }

    /// Waits for the process to end and returns how its job ended, suspending
    /// the task: the async twin of ``wait()``. Cancelling the task terminates
    /// the process (``terminate(grace:)-31ats`` with `onCancel`'s grace; its ladder
    /// is not used).
    ///
    /// Any number of tasks and threads may wait: each gets the same result.
    /// Output streamed to a ``ProcessOutputMode/stream(_:)`` handler is handed
    /// to it on a ThreadKill service thread.
    ///
    /// - Returns: The result — also when the task was cancelled but the job
    ///   had sent its reply first.
    /// - Throws: ``TaskCancelledError`` (with ``TaskCancelledError/processOutcome``)
    ///   when the task was cancelled and the job was terminated: the full result,
    ///   captured output included, is then what a further `wait` returns at once;
    ///   ``ThreadKillError`` as ``wait()``, and ``ThreadKillError/Code/invalidDuration``
    ///   for a negative grace.
    public func wait(onCancel: CancellationPolicy = .default) async throws -> ProcessResult<Output> {
        try await wait(timeoutNanos: nil, onCancel: onCancel, "IsolatedProcess.wait(onCancel:)")!
    }

    /// Waits at most `timeout` for the process to end; see ``wait(onCancel:)``.
    ///
    /// - Returns: The result, or nil if the process is still running (it is not stopped).
    /// - Throws: As ``wait(onCancel:)``, and ``ThreadKillError/Code/invalidDuration``
    ///   for a negative timeout.
    public func wait(timeout: Duration, onCancel: CancellationPolicy = .default) async throws -> ProcessResult<Output>? {
        let nanos = try timeout.validatedNanos("IsolatedProcess.wait(timeout:onCancel:)")
        return try await wait(timeoutNanos: nanos, onCancel: onCancel, "IsolatedProcess.wait(timeout:onCancel:)")
    }

    /// Stops the process as ``terminate(grace:)`` does — `SIGTERM` to the job
    /// and everything it started, up to `grace`, then `SIGKILL`, then the
    /// reap — on a ThreadKill service thread while the task is suspended.
    ///
    /// Bounded by the grace; cancelling the task does not cut it short.
    /// - Throws: As ``terminate(grace:)``.
    @discardableResult
    public func terminate(grace: Duration) async throws(ThreadKillError) -> ProcessResult<Output> {
        let graceNanos = try grace.validatedNanos("IsolatedProcess.terminate(grace:)")
        return try await AsyncBridge.pool.value {
            Result { () throws(ThreadKillError) -> ProcessResult<Output> in try self.terminate(graceNanos: graceNanos) }
        }.get()
    }

    /// Kills the job and everything it started with `SIGKILL` and reaps the
    /// child, as ``kill()`` does, on a ThreadKill service thread.
    /// - Throws: As ``kill()``.
    @discardableResult
    public func kill() async throws(ThreadKillError) -> ProcessResult<Output> {
        try await AsyncBridge.pool.value {
            Result { () throws(ThreadKillError) -> ProcessResult<Output> in
                self.stop(SIGKILL)
                return try self.wait(until: .never)!
            }
        }.get()
    }

    /// Waits on a service thread until the process ends or the timeout passes;
    /// a cancellation of the task terminates the process (on another service
    /// thread, so that the cancelling thread never waits) and awaits that.
    private func wait(timeoutNanos: UInt64?, onCancel policy: CancellationPolicy, _ what: String) async throws -> ProcessResult<Output>? {
        let graceNanos = try policy.graceNanos("\(what): onCancel grace")
        let deadline = Deadline(after: timeoutNanos)
        // Set by the cancellation handler; nil until then.
        let termination = OneShot<OneShot<Result<ProcessResult<Output>, ThreadKillError>>?>()
        let waited = await withTaskCancellationHandler {
            await AsyncBridge.pool.value {
                Result { () throws(ThreadKillError) -> ProcessResult<Output>? in try self.wait(until: deadline) }
            }
        } onCancel: {
            let terminated = OneShot<Result<ProcessResult<Output>, ThreadKillError>>()
            // A cancellation after the wait has ended terminates nothing.
            guard termination.resolve(terminated) else { return }
            AsyncBridge.pool.run {
                terminated.resolve(Result { () throws(ThreadKillError) -> ProcessResult<Output> in try self.terminate(graceNanos: graceNanos) })
            }
        }
        termination.resolve(nil)  // no cancellation came before the wait ended: none counts now
        guard let terminated = await termination.value else { return try waited.get() }
        let result = try await terminated.value.get()
        // The job replied by itself: its result wins.
        guard let ended = result.outcome.withoutReply else { return result }
        throw TaskCancelledError(job: job, processOutcome: ended)
    }
}
