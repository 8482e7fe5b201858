#if canImport(Glibc)
import Glibc
#endif
import CPthreadShim

/// A pthread mutex and a CLOCK_MONOTONIC condition variable: what
/// `Synchronization.Mutex` does not offer (waiting for a condition).
///
/// The pthread objects live in the object's own tail (a `ManagedBuffer`):
/// they must not move, and one allocation is a malloc and a free less than a
/// separate buffer (a ConditionLock is made per stop source: per thread).
final class ConditionLock: ManagedBuffer<Void, UInt64> {  // not Sendable: ManagedBuffer never is; its holders are @unchecked Sendable
    private static let condOffset = (MemoryLayout<pthread_mutex_t>.size + MemoryLayout<pthread_cond_t>.alignment - 1)
        / MemoryLayout<pthread_cond_t>.alignment * MemoryLayout<pthread_cond_t>.alignment
    private static let words = (condOffset + MemoryLayout<pthread_cond_t>.size + 7) / 8

    private var storage: UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(withUnsafeMutablePointerToElements { $0 })
    }
    private var mutex: UnsafeMutablePointer<pthread_mutex_t> { storage.assumingMemoryBound(to: pthread_mutex_t.self) }
    private var cond: UnsafeMutablePointer<pthread_cond_t> {
        (storage + ConditionLock.condOffset).assumingMemoryBound(to: pthread_cond_t.self)
    }

    /// A new, unlocked lock.
    static func make() -> ConditionLock {
        let lock = unsafeDowncast(ConditionLock.create(minimumCapacity: words) { _ in () }, to: ConditionLock.self)
        let storage = lock.storage
        storage.bindMemory(to: pthread_mutex_t.self, capacity: 1).initialize(to: pthread_mutex_t())
        (storage + condOffset).bindMemory(to: pthread_cond_t.self, capacity: 1).initialize(to: pthread_cond_t())
        precondition(pthread_mutex_init(lock.mutex, nil) == 0, "pthread_mutex_init failed")
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        precondition(pthread_cond_init(lock.cond, &attr) == 0, "pthread_cond_init failed")
        pthread_condattr_destroy(&attr)
        return lock
    }

    deinit {
        pthread_cond_destroy(cond)
        pthread_mutex_destroy(mutex)
    }

    /// Locks; the calling thread's kills are deferred until ``unlock()``, so an
    /// async-region kill never leaves the mutex held.
    func lock() {
        if let block = CPthreadShim_thread_block() { CPthreadShim_mask_add(block, 1) }
        pthread_mutex_lock(mutex)
    }

    func unlock() {
        pthread_mutex_unlock(mutex)
        if let block = CPthreadShim_thread_block() { CPthreadShim_mask_add(block, -1) }
    }
    func broadcast() { pthread_cond_broadcast(cond) }

    /// In a forked child, by the thread that locked it before the fork: the
    /// condition variable may count waiters that do not exist here (glibc's
    /// broadcast or destroy could then wait for them for ever), so it is made anew.
    func unlockAfterFork() {
        // Not pthread_cond_destroy: it waits for those waiters too.
        cond.initialize(to: pthread_cond_t())
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        pthread_cond_init(cond, &attr)
        pthread_condattr_destroy(&attr)
        unlock()
    }

    func withLock<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        lock()
        defer { unlock() }
        return try body()
    }

    /// Waits until woken or the deadline passes; the lock must be held.
    /// Returns false when the deadline has passed.
    @discardableResult
    func wait(until deadline: Deadline) -> Bool {
        guard let nanos = deadline.nanos else {
            pthread_cond_wait(cond, mutex)
            return true
        }
        var ts = timespec(nanos: nanos)
        return pthread_cond_timedwait(cond, mutex, &ts) != ETIMEDOUT
    }
}
