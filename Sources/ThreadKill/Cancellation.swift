#if canImport(Glibc)
import Glibc
#endif
import CPthreadShim

extension KillContext {
    /// Makes a C call that ``KillableThread/cancel()`` can end with `pthread_cancel`.
    ///
    /// `function(argument)` runs on a helper thread whose frames are all C,
    /// with deferred cancellation enabled and every signal blocked; this thread
    /// waits for it. A cancel — or an interrupt, raise or stop, since this is an
    /// interruptible call — cancels the helper: `pthread_cancel` unwinds its C
    /// frames only, `cleanup(cleanupArgument)` releases its C resources, and
    /// this thread throws an ordinary Swift error. No Swift frame is unwound by
    /// `pthread_cancel` or skipped by a jump: every `defer` above runs and every
    /// lock is released, as for any error. A cancel is sticky: the same
    /// ``KillError`` (reason ``KillError/Reason/cancelled``) is thrown again at
    /// every later delivery point, so the thread ends ``Outcome/killed(_:)`` (reason ``KillError/Reason/cancelled``)
    /// unless its body returns first. Inside ``uninterruptible(_:)`` the call is
    /// waited for and nothing cancels it.
    ///
    /// - Important: `function` must be C code that calls no Swift: a
    ///   function `long f(void *)` of your own C target (or a C library's,
    ///   behind such a wrapper) — not a Swift closure, whose frame
    ///   `pthread_cancel` would unwind. For `read`, `poll` and sleeping, use
    ///   ``cancellableRead(_:into:)``, ``cancellablePoll(_:timeout:)`` and
    ///   ``cancellableSleep(for:)``. `function` runs on another thread:
    ///   thread-local state of the C library is not this thread's. It is
    ///   cancelled only at POSIX cancellation points (`read`, `poll`,
    ///   `nanosleep`, `accept`, …).
    ///
    /// ```c
    /// // Sources/CMyLeaves/include/CMyLeaves.h (a C target of your package)
    /// long my_fetch(void *request);          // blocks in read(2); calls no Swift
    /// void my_fetch_cleanup(void *request);  // frees what my_fetch holds
    /// ```
    /// ```swift
    /// import CMyLeaves
    ///
    /// let n = try ctx.cancellableCall(my_fetch, argument: request,
    ///                                 onCancel: my_fetch_cleanup, cleanupArgument: request)
    /// ```
    /// - Returns: What `function` returned; a negative value is a `-errno` and is thrown.
    /// - Throws: ``KillError`` with reason ``KillError/Reason/cancelled`` (or the
    ///   kill that woke it), ``ThreadKillError`` if the helper cannot start or the call failed.
    public func cancellableCall(
        _ function: @convention(c) (UnsafeMutableRawPointer?) -> Int,
        argument: UnsafeMutableRawPointer?,
        onCancel cleanup: (@convention(c) (UnsafeMutableRawPointer?) -> Void)? = nil,
        cleanupArgument: UnsafeMutableRawPointer? = nil
    ) throws -> Int {
        // Masked: a kill in an async region must not jump out of this frame
        // and leave the helper thread unjoined.
        try withInternalMask { () throws -> Int in
            try runCancellable(CPthreadShim_call(
                state: UInt32(CPthreadShim_CALL_RUNNING), result: 0, thread: 0, function: function, argument: argument,
                cleanup: cleanup, cleanup_argument: cleanupArgument))
        }
    }

    /// Reads up to `buffer.count` bytes from `fd`, as ``read(_:into:)`` does,
    /// and also ends for a ``KillableThread/cancel()``.
    ///
    /// The built-in cancellable calls have no C frames to unwind, so no helper
    /// thread: the call is made on this thread through the cancellable-syscall
    /// stub, which a pending cancel wakes as a kill wakes ``read(_:into:)``.
    /// A cancel then ends it as it ends ``cancellableCall(_:argument:onCancel:cleanupArgument:)``:
    /// this thread throws the sticky ``KillError`` (reason ``KillError/Reason/cancelled``).
    /// A read that completed keeps its data.
    /// - Returns: The number of bytes read; 0 at end of file.
    /// - Throws: The cancel or the kill, or a ``ThreadKillError`` for a failed `read`.
    public func cancellableRead(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try syscall("read", Int(CPthreadShim_SYS_read), Int(fd), Int(bitPattern: buffer.baseAddress), buffer.count, cancellable: true)
    }

    /// Sleeps for `duration` in `clock_nanosleep(2)`, on `CLOCK_MONOTONIC`,
    /// until a kill or a cancel ends it (on this thread, as ``cancellableRead(_:into:)``).
    ///
    /// Any duration is slept in full, to the nanosecond it can express: a
    /// `timespec` carries the seconds, so `.seconds(Int64.max)` sleeps until
    /// a kill ends it.
    /// - Throws: ``ThreadKillError/Code/invalidDuration`` for a negative
    ///   duration, or the cancel or the kill.
    public func cancellableSleep(for duration: Duration) throws {
        _ = try duration.validatedNanos("cancellableSleep(for:)")
        let (seconds, attoseconds) = duration.components  // not negative: checked above
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        var remaining = timespec()
        try withUnsafeMutablePointer(to: &request) { request in
            try withUnsafeMutablePointer(to: &remaining) { remaining in
                _ = try retrying("clock_nanosleep", cancellable: true) {
                    let result = call(Int(CPthreadShim_SYS_clock_nanosleep), Int(CLOCK_MONOTONIC), 0,
                                      Int(bitPattern: request), Int(bitPattern: remaining), 0, 0, cancellable: true)
                    if result == -Int(EINTR) { request.pointee = remaining.pointee }  // a stray signal: sleep what is left
                    return result
                }
            }
        }
    }

    /// Waits for events on file descriptors, as ``poll(_:timeout:)`` does,
    /// and also ends for a cancel (on this thread, as ``cancellableRead(_:into:)``).
    /// - Parameters:
    ///   - fds: The descriptors and the events to wait for; `revents` is filled in.
    ///   - timeout: How long to wait; nil waits forever.
    /// - Returns: The number of descriptors with events; 0 if the timeout passed.
    public func cancellablePoll(_ fds: inout [pollfd], timeout: Duration? = nil) throws -> Int {
        try poll(&fds, timeout: timeout, name: "cancellablePoll(timeout:)", cancellable: true)
    }

    private func runCancellable(_ initial: CPthreadShim_call) throws -> Int {
        let interruptible = CPthreadShim_uninterruptible_depth(core.block) == 0
        if interruptible {
            if let cancel = core.takeCancel() { try endCancelled(cancel) }
            if CPthreadShim_kill_load_acquire(core.block) != 0 { try deliver(.interruptible()) }
        }
        CPthreadShim_cancel_warm_up()
        // The thread's one call record: it outlives the call, so a late poke
        // of an ended call only wakes a later one (ThreadCore.wake).
        let call = core.cancellableCallRecord(initial)
        let err = CPthreadShim_call_start(call)
        if err != 0 { throw ThreadKillError.system("pthread_create", err) }
        let state = CPthreadShim_call_state(call)
        let address = UInt(bitPattern: call)  // the waker may run on any thread until it is cleared
        if interruptible { core.setWaker { CPthreadShim_call_poke(UnsafeMutablePointer(bitPattern: address)!) } }
        func release() -> Int {
            if interruptible { core.setWaker(nil) }
            return call.pointee.result
        }
        while true {
            let seen = __atomicLoad(state)
            if seen & callStateMask == callReturned {
                CPthreadShim_call_join(call)
                let result = release()
                if result < 0 { throw ThreadKillError.system("cancellable call", Int32(-result)) }
                return result
            }
            if interruptible, core.isCancelPending || CPthreadShim_kill_load_acquire(core.block) != 0 {
                CPthreadShim_call_cancel(call)  // C frames unwound, cleanup ran, helper joined
                let returned = __atomicLoad(state) & callStateMask == callReturned
                let result = release()
                if returned && result >= 0 { return result }  // it finished before the cancel acted
                if let cancel = core.takeCancel() { try endCancelled(cancel) }
                try deliver(.interruptible())
                throw KillError(reason: .interrupted)  // the kill was consumed meanwhile
            }
            _ = CPthreadShim_futex_wait(state, seen, nil)
        }
    }

    /// A cancel acted: the call ended (a helper's C frames were unwound and
    /// its cleanup ran, or the cancellable syscall was woken). This thread
    /// ends it by throwing: every Swift frame unwinds normally. The cancel is
    /// sticky from now on.
    func endCancelled(_ cancel: any Error) throws -> Never {
        core.markCancelled(cancel)
        throw cancel
    }
}

/// The low bits of a CPthreadShim_call's state word, and the value they hold
/// once the C function returned (the other values: running, cancelled).
private let callStateMask = UInt32(CPthreadShim_CALL_STATE_MASK)
private let callReturned = UInt32(CPthreadShim_CALL_RETURNED)

/// An acquire load of a futex word shared with C.
private func __atomicLoad(_ word: UnsafeMutablePointer<UInt32>) -> UInt32 {
    CPthreadShim_word_load(word)
}
