#if canImport(Glibc)
import Glibc
#endif
import CPthreadShim

/// The running thread's side of ThreadKill: where kills are delivered.
///
/// A context belongs to the thread it was given to and cannot leave it (it is
/// not `Sendable`). Its **delivery points** are where a pending kill is thrown
/// as a ``KillError``:
/// - ``checkpoint()`` — waits while ``masked(_:)``;
/// - interruptible calls: ``sleep(for:)``, ``wait(on:until:timeout:then:)`` —
///   they also *wake* for a kill, at once, and wait only inside ``uninterruptible(_:)``;
/// - the end of the outermost ``masked(_:)`` or ``uninterruptible(_:)``.
///
/// A context is valid only while its thread's body runs: do not keep it
/// beyond that (it does not keep the thread's state alive).
public struct KillContext {
    // Unowned, so that copying a context retains nothing. Every closure that
    // captures `ctx` copies it (at -Onone, for the whole call it is passed
    // to); a jump out of an async region skips such frames, and a strong
    // reference there would keep the thread's whole state (~1.3 KB) alive for
    // ever. The thread's run frame owns both objects while the body runs
    // (KillableThread.run).
    unowned(unsafe) let core: ThreadCore
    unowned(unsafe) let cleanups: CleanupStack
    /// The thread's control block, kept here so that the inlined
    /// ``checkpoint()`` is one load of the kill word through it.
    @usableFromInline let block: UnsafeMutablePointer<CPthreadShim_block>

    init(core: ThreadCore, cleanups: CleanupStack) {
        self.core = core
        self.cleanups = cleanups
        self.block = core.block
    }

    /// The thread this context belongs to.
    public var thread: ThreadRef { ThreadRef(core: core) }

    /// Whether a stop has been requested. One atomic load.
    ///
    /// It reads the thread's kill word, not the stop token: once it is true,
    /// the next ``checkpoint()`` throws the stop (the kill word is set a
    /// moment before the token's flag, and before the stop's callbacks start).
    public var isStopRequested: Bool { CPthreadShim_kill_load(block) & UInt32(CPthreadShim_KILL_STOP) != 0 }

    /// The thread's stop token: register ``StopToken/onStop(_:)`` callbacks on it,
    /// or pass it to work that should stop with this thread.
    public var stopToken: StopToken { core.stop.token }

    /// Throws the pending kill, if any, unless masked.
    ///
    /// What it throws is a ``KillError``, or the error a ``ThreadRef/raise(_:)``
    /// injected.
    ///
    /// The fast path is one relaxed atomic load and a branch, inlined into the
    /// caller's code (no call): call it as often as you like.
    @inlinable
    public func checkpoint() throws {
        if CPthreadShim_kill_load(block) != 0 { try deliverAtCheckpoint() }
    }

    /// The slow path of ``checkpoint()``, out of line.
    @usableFromInline @inline(never)
    func deliverAtCheckpoint() throws { try deliver(.checkpoint) }

    enum Point {
        case checkpoint
        /// An interruptible call; `until` bounds a swallowed-kill pause.
        case interruptible(until: Deadline = .never)
        /// An interruptible call holding a lock: it must not pause.
        case interruptibleLocked
    }

    /// The slow path of every delivery point.
    @inline(never)
    func deliver(_ point: Point) throws {
        if CPthreadShim_uninterruptible_depth(block) > 0 { return }
        let kill: (any Error)?
        switch point {
        case .checkpoint:
            if CPthreadShim_mask_depth(block) > 0 { return }
            kill = core.takeKill()
        case .interruptible(let deadline):
            // The swallowed-kill check and the take under one lock: nothing
            // was swallowed in the common case, and the kill is taken at once.
            switch core.takeKillUnlessSwallowed() {
            case .kill(let taken): kill = taken
            case .pause(let nanos):
                pause(nanos, until: deadline)
                kill = core.takeKill()
            }
        case .interruptibleLocked: kill = core.takeKill()
        }
        if let kill {
            KillEvents.delivering(kill, on: core)
            throw kill
        }
    }

    /// Before an interruptible call throws a sticky kill (a stop, a cancel)
    /// that the body already caught and swallowed, it waits a little — 1 ms,
    /// doubling per swallow up to 100 ms, never past the call's own deadline —
    /// so that a catch-all loop around `sleep` or `read` does not spin at
    /// 100 % CPU. A new kill ends the pause at once. See CooperativeStop.md.
    func pauseIfSwallowing(until deadline: Deadline) {
        guard let pause = core.swallowedStickyPause() else { return }
        self.pause(pause, until: deadline)
    }

    private func pause(_ pause: UInt64, until deadline: Deadline) {
        let nanos = min(pause, deadline.remaining ?? pause)
        guard nanos > 0 else { return }
        var ts = timespec(nanos: nanos)
        core.waitingOnKillWord {
            _ = CPthreadShim_futex_wait(CPthreadShim_kill_word(block), CPthreadShim_kill_word_value(block), &ts)
        }
    }

    // MARK: Masking

    /// Runs `body` with kills deferred at checkpoints; a kill that arrives
    /// meanwhile is thrown when the outermost mask ends (Haskell's `mask`).
    ///
    /// Interruptible calls inside still wake and throw; use
    /// ``uninterruptible(_:)`` to keep them asleep too. Masks nest.
    /// - Throws: what `body` throws, or the pending kill at the end.
    public func masked<R>(_ body: () throws -> R) throws -> R {
        let result = try withMask(block, body)
        if CPthreadShim_mask_depth(block) == 0 { try checkpoint() }
        return result
    }

    /// Runs `body` with every kill deferred, at checkpoints and interruptible
    /// calls alike; the pending kill is thrown when the outermost region ends.
    /// - Throws: what `body` throws, or the pending kill at the end.
    public func uninterruptible<R>(_ body: () throws -> R) throws -> R {
        let result = try withMask(block, uninterruptible: true, body)
        if CPthreadShim_mask_depth(block) == 0 { try checkpoint() }
        return result
    }

    // MARK: Interruptible waits

    /// Sleeps for `duration`, or until a kill arrives — then throws it at once
    /// (the seed's stop-event wait, without polling).
    ///
    /// - Throws: ``KillError`` for a kill; ``ThreadKillError`` for a negative duration.
    public func sleep(for duration: Duration) throws {
        let deadline = Deadline(after: try duration.validatedNanos("sleep(for:)"))
        let word = CPthreadShim_kill_word(block)
        try core.waitingOnKillWord {
            while true {
                let value = CPthreadShim_kill_word_value(block)  // a pending cancel included: it is no kill here
                if value & UInt32(CPthreadShim_KILL_DELIVERABLE) != 0 { try deliver(.interruptible(until: deadline)) }
                let remaining = deadline.remaining
                if remaining == 0 { return }
                if var ts = remaining.map(timespec(nanos:)) {
                    _ = CPthreadShim_futex_wait(word, value, &ts)
                } else {
                    _ = CPthreadShim_futex_wait(word, value, nil)
                }
            }
        }
    }

    /// Waits until `condition` holds for the monitor's state, then runs `body`
    /// on it under the monitor's lock; returns early, throwing, when a kill arrives.
    ///
    /// - Parameters:
    ///   - monitor: The state to wait on. Changes made through
    ///     ``Monitor/withLock(_:)`` wake the wait.
    ///   - condition: Checked under the lock, before the first wait and after every wake.
    ///   - timeout: How long to wait at most; nil waits forever.
    ///   - body: Runs under the lock once `condition` holds.
    /// - Returns: What `body` returned, or nil if the timeout passed first.
    /// - Throws: ``KillError`` for a kill; ``ThreadKillError`` for a negative timeout.
    public func wait<State, R>(
        on monitor: Monitor<State>,
        until condition: (State) -> Bool,
        timeout: Duration? = nil,
        then body: (inout State) throws -> R
    ) throws -> R? {
        let deadline = Deadline(after: try timeout.map { d throws(ThreadKillError) in try d.validatedNanos("wait(on:timeout:)") })
        if CPthreadShim_uninterruptible_depth(block) == 0 { pauseIfSwallowing(until: deadline) }  // not under the monitor's lock
        core.setWaker { monitor.wakeAll() }
        defer { core.setWaker(nil) }
        return try monitor.waitLocked(until: deadline) { state throws -> R? in
            if CPthreadShim_kill_load_acquire(block) != 0 { try deliver(.interruptibleLocked) }
            return condition(state) ? try body(&state) : nil
        }
    }
}

@available(*, unavailable, message: "a KillContext belongs to its thread")
extension KillContext: Sendable {}
