#if canImport(Glibc)
import Glibc
#endif
import CPthreadShim

/// A non-generic reference to a killable thread: what ``ThreadKill`` lists and
/// looks up, and what ``KillableThread/ref`` returns.
///
/// A reference never reaches another thread, even after this one has finished
/// and its `pthread_t` was reused: operations on a finished thread throw
/// ``ThreadKillError/Code/alreadyFinished`` and send nothing.
public struct ThreadRef: Sendable, Hashable, CustomStringConvertible {
    let core: ThreadCore

    /// Unique within the process, never reused.
    public var id: UInt64 { core.id }
    /// The name given at start.
    public var name: String { core.name }
    /// Whether the thread may be abandoned at exit.
    public var isDaemon: Bool { core.daemon }
    /// How long ago the thread was started.
    public var age: Duration { .nanoseconds(monotonicNanos() - core.createdAt) }

    /// Where the thread is in its life.
    public var state: ThreadState {
        switch core.lifecycle {
        case .starting: return .starting
        case .running: return core.stop.isStopRequested ? .stopping : .running
        case .exiting: return .stopping
        case .finished: return .finished
        }
    }

    /// Requests a cooperative stop: the seed's stop flag and stop event.
    ///
    /// The stop is sticky and is thrown as a ``KillError`` with reason
    /// ``KillError/Reason/stopRequested`` at every delivery point the thread
    /// reaches. Every interruptible call wakes for it at once, as for an
    /// interrupt: ``KillContext/sleep(for:)``, ``KillContext/wait(on:until:timeout:then:)``,
    /// the interruptible system calls (``KillContext/read(_:into:)`` and the
    /// others), cancellable C calls and ``KillContext/blocking(_:)`` regions.
    /// A signal is sent only when the thread is in one of those that needs one
    /// (a system call, a blocking or an async region); a thread in ordinary
    /// code sees the stop at its next delivery point. Stop callbacks registered
    /// on the thread's ``KillContext/stopToken`` run on the calling thread.
    ///
    /// A thread may request its own stop.
    /// - Throws: ``ThreadKillError/Code/alreadyFinished`` if the thread has ended.
    public func requestStop() throws(ThreadKillError) {
        try core.checkTarget("requestStop()", allowSelf: true)
        core.stop.requestStop()
    }

    /// Interrupts the thread: its current or next interruptible call throws a
    /// ``KillError`` with reason ``KillError/Reason/interrupted`` (Java's
    /// `Thread.interrupt`). An interrupt is consumed when thrown.
    ///
    /// - Throws: ``ThreadKillError/Code/alreadyFinished`` if the thread has ended,
    ///   ``ThreadKillError/Code/callingThread`` from the thread itself.
    public func interrupt() throws(ThreadKillError) {
        try core.interrupt()
    }

    /// Cancels the thread's current or next cancellable C call with
    /// `pthread_cancel` (``KillContext/cancellableCall(_:argument:onCancel:cleanupArgument:)``):
    /// the call's C frames are unwound and their cleanup runs, then the thread
    /// throws a ``KillError`` with reason ``KillError/Reason/cancelled``.
    ///
    /// The thread throws it like any error, so every Swift frame unwinds
    /// normally (`defer`s run, locks are released); `pthread_cancel` never
    /// touches a Swift frame and nothing jumps. Once acted, the cancel is
    /// sticky: it is thrown again at every later delivery point, so the thread
    /// ends ``Outcome/killed(_:)`` (reason ``KillError/Reason/cancelled``). A cancel waits, pending, while the
    /// thread is anywhere else. The first cancel wins; later ones are ignored.
    /// - Throws: ``ThreadKillError/Code/alreadyFinished`` if the thread has ended,
    ///   ``ThreadKillError/Code/callingThread`` from the thread itself.
    public func cancel() throws(ThreadKillError) {
        try core.cancel()
    }

    /// Raises `error` inside the thread, like Python's `PyThreadState_SetAsyncExc`:
    /// the thread throws exactly this error at its next delivery point, and its
    /// current interruptible call is woken for it.
    ///
    /// The first raise wins: while one is pending, later raises are dropped
    /// (and counted in ``droppedRaises``). A raised error is consumed when thrown.
    /// If it escapes the body, ``KillableThread/join()`` returns `.threw(error)`.
    ///
    /// - Returns: `true` if the error is now pending, `false` if it was dropped.
    /// - Throws: ``ThreadKillError/Code/alreadyFinished`` if the thread has ended,
    ///   ``ThreadKillError/Code/callingThread`` from the thread itself (throw instead).
    @discardableResult
    public func raise(_ error: any Error) throws(ThreadKillError) -> Bool {
        try core.raise(error)
    }

    /// Waits at most `timeout` for the thread to end; for a thread whose
    /// ``KillableThread`` handle you do not hold (a ``TimeoutError/thread``,
    /// an entry of ``KillableThreads/liveThreads``). The outcome is the handle's.
    ///
    /// - Returns: Whether the thread has ended.
    /// - Throws: ``ThreadKillError/Code/invalidDuration`` for a negative timeout,
    ///   ``ThreadKillError/Code/callingThread`` from the thread itself.
    @available(*, noasync, message: "join(timeout:) blocks its thread; from async code use the async join(timeout:onCancel:)")
    public func join(timeout: Duration) throws(ThreadKillError) -> Bool {
        let nanos = try timeout.validatedNanos("join(timeout:)")
        if core.isCurrentThread { throw .callingThread("join(timeout:)") }
        if !core.existsHere { throw .notInThisProcess("join(timeout:)") }
        return core.waitDone(until: Deadline(after: nanos))
    }

    /// Kills delivered into the thread's async regions and declined jumps, so far.
    public var injectionStatistics: InjectionStatistics { InjectionStatistics(block: core.block) }

    /// How many times the watchdog gave up resending a kill that the thread
    /// had not taken within ``KillableThreads/resendWindow`` (it stayed pending: the
    /// thread was in code no signal can reach — see ``StopLadder``).
    public var abandonedResends: Int { core.resendsAbandoned.load(ordering: .relaxed) }

    /// How many raises were dropped because an earlier one was still pending.
    public var droppedRaises: Int { core.droppedRaises }

    public var description: String { "#\(id) \(name) (\(state.rawValue))" }

    public static func == (a: ThreadRef, b: ThreadRef) -> Bool { a.core === b.core }
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(core)) }
}
