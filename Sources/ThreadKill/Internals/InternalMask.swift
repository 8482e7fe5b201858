import CPthreadShim
import Synchronization

/// Runs `body` with the calling thread's kills deferred, if it is a killable
/// thread: ThreadKill's own locks must never be left held by a kill that
/// lands in an async region. Unlike ``KillContext/masked(_:)`` the end of this
/// mask delivers nothing; the kill waits for the next delivery point or signal.
@inline(__always)
func withInternalMask<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
    guard let block = CPthreadShim_thread_block() else { return try body() }
    CPthreadShim_mask_add(block, 1)
    defer { CPthreadShim_mask_add(block, -1) }
    return try body()
}

extension Mutex where Value: Sendable {
    /// `withLock`, with the calling thread's kills deferred while the lock is held.
    borrowing func withMaskedLock<R, E: Error>(_ body: (inout Value) throws(E) -> R) throws(E) -> R {
        try withInternalMask { () throws(E) -> R in
            try withLock { (value: inout sending Value) throws(E) -> R in try body(&value) }
        }
    }
}
