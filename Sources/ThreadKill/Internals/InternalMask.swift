import CPthreadShim
import Synchronization

/// Runs `body` with `block`'s mask depth one higher — kills wait at
/// checkpoints and no async-region kill can land — and, if `uninterruptible`,
/// its uninterruptible depth too, so interruptible calls do not wake either.
/// Both depths are restored however `body` ends (the uninterruptible one
/// first). Delivers nothing: the caller decides what the end of the mask means.
///
/// Use it wherever a scope is masked. The places that raise and lower the
/// depths by hand do so on purpose:
/// - where a jump may land just outside the mask (own code inside an async
///   region) and the scope would need a closure that captures a reference:
///   without optimisation, a closure's captures are retained before the call
///   and released after it — both outside the mask — so a jump there would
///   leak them (`CleanupStack.push`/`unwind`; `bracket`'s moves, where a
///   closure would also turn `consume` into a copy);
/// - an async region hands its mask level across the C trampoline:
///   `asyncKillable` raises it, `RegionBody.run` lowers it for the body and
///   raises it again, and a kill that lands is masked by the signal handler
///   (CPthreadShim_async.c) until `asyncKillable` has taken it;
/// - `ConditionLock` masks from `lock()` to `unlock()`, which are not one scope.
@inline(__always)
func withMask<R, E: Error>(
    _ block: UnsafeMutablePointer<CPthreadShim_block>, uninterruptible: Bool = false, _ body: () throws(E) -> R
) throws(E) -> R {
    CPthreadShim_mask_add(block, 1)
    if uninterruptible { CPthreadShim_uninterruptible_add(block, 1) }
    defer {
        if uninterruptible { CPthreadShim_uninterruptible_add(block, -1) }
        CPthreadShim_mask_add(block, -1)
    }
    return try body()
}

/// Runs `body` with the calling thread's kills deferred, if it is a killable
/// thread: ThreadKill's own locks must never be left held by a kill that
/// lands in an async region. Unlike ``KillContext/masked(_:)`` the end of this
/// mask delivers nothing; the kill waits for the next delivery point or signal.
@inline(__always)
func withInternalMask<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
    guard let block = CPthreadShim_thread_block() else { return try body() }
    return try withMask(block, body)
}

extension Mutex where Value: Sendable {
    /// `withLock`, with the calling thread's kills deferred while the lock is held.
    borrowing func withMaskedLock<R, E: Error>(_ body: (inout Value) throws(E) -> R) throws(E) -> R {
        try withInternalMask { () throws(E) -> R in
            try withLock { (value: inout sending Value) throws(E) -> R in try body(&value) }
        }
    }
}
