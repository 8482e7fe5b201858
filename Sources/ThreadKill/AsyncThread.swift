// The async front door for killable threads: await a thread's end without
// blocking a Swift-concurrency pool thread, and stop the thread when the
// awaiting task is cancelled. Docs/Async.md.

extension KillableThread {
    /// Runs `body` on a new killable thread and returns its value; cancelling
    /// the awaiting task stops the thread by `onCancel` (by default the
    /// escalation ladder with a grace of 1 s).
    ///
    /// No cooperative-pool thread waits meanwhile: the task is suspended, and
    /// the thread's end resumes it. On cancellation the ladder climbs on a
    /// ThreadKill service thread (`threadkill-wait`), never on the cancelling
    /// thread nor on the pool; the call returns when the thread has ended or
    /// the grace has run out.
    ///
    /// ```swift
    /// let task = Task {
    ///     try await KillableThread.run(name: "reader") { ctx in
    ///         var byte: UInt8 = 0
    ///         return try withUnsafeMutableBytes(of: &byte) { try ctx.read(fd, into: $0) }
    ///     }
    /// }
    /// task.cancel()   // the read wakes; the task throws TaskCancelledError
    /// ```
    ///
    /// The parameters other than `onCancel` are those of
    /// ``init(name:stackSize:daemon:stopToken:cpuBudget:tick:_:)``. A task
    /// already cancelled starts the thread with its stop already requested:
    /// the body sees it at its first delivery point.
    ///
    /// - Returns: What `body` returned — also when the task was cancelled but
    ///   the body returned anyway (it ended by itself: its value wins).
    /// - Throws: ``TaskCancelledError`` carrying the ``StopReport`` when the
    ///   task was cancelled and the stop ended the thread (or could not end it
    ///   within the grace: then ``TaskCancelledError/thread`` is still running);
    ///   what `body` threw; a ``KillError`` when a kill from elsewhere ended it;
    ///   ``ThreadKillError`` for bad arguments (a negative grace:
    ///   ``ThreadKillError/Code/invalidDuration``) or a thread that cannot start.
    public static func run(
        name: String = "killable",
        stackSize: Int? = nil,
        daemon: Bool = false,
        stopToken: StopToken? = nil,
        cpuBudget: Duration? = nil,
        tick: Duration? = nil,
        onCancel: CancellationPolicy = .default,
        _ body: @escaping @Sendable (KillContext) throws -> Value
    ) async throws -> Value {
        _ = try onCancel.graceNanos("KillableThread.run(onCancel:)")
        let thread = try KillableThread(name: name, stackSize: stackSize, daemon: daemon, stopToken: stopToken,
                                        cpuBudget: cpuBudget, tick: tick, body)
        return try await thread.join(onCancel: onCancel).get()
    }

    /// The body's value, awaited: what ``join(onCancel:)`` returns, unwrapped
    /// (``Outcome/get()``). Cancelling the awaiting task stops the thread with
    /// ``CancellationPolicy/default``.
    ///
    /// - Throws: ``TaskCancelledError`` when the task was cancelled and the
    ///   stop ended the thread; what the body threw; the ``KillError`` of a
    ///   kill from elsewhere that ended it.
    public var value: Value {
        get async throws { try await join().get() }
    }

    /// Waits for the thread to end and returns how it ended, suspending the
    /// task (no thread blocks); cancelling the task stops the thread by `onCancel`.
    ///
    /// Any number of tasks and threads may join, any number of times: each
    /// gets the same outcome.
    /// - Returns: The outcome. A body that ended by itself while the stop was
    ///   under way (returned, or threw its own error) is returned as such.
    /// - Throws: ``TaskCancelledError`` when the task was cancelled and the
    ///   stop ended the thread or could not end it; ``ThreadKillError``:
    ///   ``ThreadKillError/Code/invalidDuration`` for a negative grace,
    ///   ``ThreadKillError/Code/notInThisProcess`` in a forked child.
    public func join(onCancel: CancellationPolicy = .default) async throws -> Outcome<Value> {
        try await join(timeoutNanos: nil, onCancel: onCancel, "join(onCancel:)")!
    }

    /// Waits at most `timeout` for the thread to end; see ``join(onCancel:)``.
    ///
    /// - Returns: The outcome, or nil if the thread is still running (it is
    ///   not stopped: only a cancellation stops it).
    /// - Throws: As ``join(onCancel:)``, and ``ThreadKillError/Code/invalidDuration``
    ///   for a negative timeout.
    public func join(timeout: Duration, onCancel: CancellationPolicy = .default) async throws -> Outcome<Value>? {
        let nanos = try timeout.validatedNanos("join(timeout:onCancel:)")
        return try await join(timeoutNanos: nanos, onCancel: onCancel, "join(timeout:onCancel:)")
    }

    private func join(timeoutNanos: UInt64?, onCancel: CancellationPolicy, _ what: String) async throws -> Outcome<Value>? {
        guard try await core.awaitEnd(timeoutNanos: timeoutNanos, onCancel: onCancel, what) else { return nil }
        return box.get()
    }

    /// Stops the thread within `grace` by climbing `ladder`, as
    /// ``stop(grace:ladder:)`` does, without blocking: the ladder climbs on a
    /// ThreadKill service thread while the task is suspended.
    ///
    /// The stop is bounded by its grace; cancelling the task does not cut it short.
    /// - Throws: ``ThreadKillError/Code/invalidDuration`` for a negative grace.
    public func stop(grace: Duration, ladder: StopLadder = .default) async throws(ThreadKillError) -> StopResult<Value> {
        let report = try await ref.stop(grace: grace, ladder: ladder)
        return StopResult(outcome: core.hasEnded ? box.get() : nil, report: report)
    }
}

extension ThreadRef {
    /// Waits at most `timeout` for the thread to end, suspending the task (no
    /// thread blocks); cancelling the task stops the thread by `onCancel`.
    /// The async twin of ``join(timeout:)``.
    ///
    /// - Returns: Whether the thread has ended (true also when it ended by
    ///   itself while a cancellation's stop was under way).
    /// - Throws: ``TaskCancelledError`` when the task was cancelled and the
    ///   stop ended the thread or could not end it; ``ThreadKillError/Code/invalidDuration``
    ///   for a negative timeout or grace.
    public func join(timeout: Duration, onCancel: CancellationPolicy = .default) async throws -> Bool {
        let nanos = try timeout.validatedNanos("join(timeout:onCancel:)")
        return try await core.awaitEnd(timeoutNanos: nanos, onCancel: onCancel, "join(timeout:onCancel:)")
    }

    /// Stops the thread within `grace` by climbing `ladder`
    /// (``stop(grace:ladder:)``) on a ThreadKill service thread, while the
    /// task is suspended. Bounded by the grace; cancelling the task does not cut it short.
    ///
    /// - Throws: ``ThreadKillError/Code/invalidDuration`` for a negative grace.
    public func stop(grace: Duration, ladder: StopLadder = .default) async throws(ThreadKillError) -> StopReport {
        let graceNanos = try grace.validatedNanos("stop(grace:)")
        if core.isCurrentThread { throw .callingThread("stop(grace:)") }
        let core = core
        return await AsyncBridge.pool.value { StopLadder.climb(ladder, on: [core], graceNanos: graceNanos)[0] }
    }
}

extension ThreadCore {
    /// Awaits the thread's end; when the task is cancelled first, stops the
    /// thread by `policy` on a service thread and awaits that.
    ///
    /// - Returns: true when the thread ended (by itself, or during a stop
    ///   without a kill ending it), false when the timeout passed.
    /// - Throws: ``TaskCancelledError`` when a kill ended the thread during
    ///   the cancellation's stop, or the stop could not end it.
    func awaitEnd(timeoutNanos: UInt64?, onCancel policy: CancellationPolicy, _ what: String) async throws -> Bool {
        let graceNanos = try policy.graceNanos("\(what): onCancel grace")
        if !existsHere { throw ThreadKillError.notInThisProcess(what) }
        if isCurrentThread { throw ThreadKillError.callingThread(what) }
        switch await awaitEnd(timeoutNanos: timeoutNanos) {
        case .ended: return true
        case .timedOut: return hasEnded  // an end that raced the timer still counts
        case .cancelled:
            let core = self
            let report = await AsyncBridge.pool.value { StopLadder.climb(policy.ladder, on: [core], graceNanos: graceNanos)[0] }
            // A body that returned or threw its own error ended by itself: its outcome wins.
            if hasEnded && endingKill == nil { return true }
            throw TaskCancelledError(report: report, thread: ThreadRef(core: self))
        }
    }
}

/// Runs `body` on a killable thread and returns its value, or stops it when
/// `timeout` passes and throws a ``TimeoutError`` carrying the stop report:
/// the async twin of ``withTimeout(_:grace:ladder:name:_:)``.
///
/// The task is suspended meanwhile; no thread blocks (the timeout is a
/// `Task.sleep`, the ladder climbs on a ThreadKill service thread).
/// Cancelling the task stops the body the same way, with the same `grace`
/// and `ladder`, and throws ``TaskCancelledError``.
///
/// ```swift
/// let answer = try await withTimeout(.seconds(2)) { ctx in
///     try ctx.asyncKillable { slowComputation() }
/// }
/// ```
///
/// - Throws: ``TimeoutError``; ``TaskCancelledError``; what `body` throws;
///   ``ThreadKillError`` for a negative duration or a thread that cannot start.
public func withTimeout<T: Sendable>(
    _ timeout: Duration,
    grace: Duration = .seconds(1),
    ladder: StopLadder = .default,
    name: String = "withTimeout",
    _ body: @escaping @Sendable (KillContext) throws -> T
) async throws -> T {
    _ = try timeout.validatedNanos("withTimeout")
    _ = try grace.validatedNanos("withTimeout(grace:)")
    let thread = try KillableThread(name: name, body)
    if let outcome = try await thread.join(timeout: timeout, onCancel: .stop(grace: grace, ladder: ladder)) {
        return try outcome.get()
    }
    let result = try await thread.stop(grace: grace, ladder: ladder)
    throw TimeoutError(timeout: timeout, report: result.report, thread: thread.ref)
}
