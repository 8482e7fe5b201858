#if canImport(Glibc)
import Glibc
#endif
import CPthreadShim

extension KillContext {
    /// Runs foreign blocking code (a C library's `read`, a `sem_wait`) so that
    /// a kill can wake it.
    ///
    /// While `body` runs, the library's signal is unblocked; when a kill is
    /// pending, the handler finishes a blocking system call of the foreign code
    /// with `EINTR` — what that code would see from any signal without
    /// `SA_RESTART` — and the watchdog resends (one signal in flight at a time)
    /// until the region ends or 5 s pass. When `body` returns, or throws, the
    /// pending kill is thrown in its place.
    ///
    /// - Important: Code that retries `EINTR` by itself stays blocked:
    ///   `getaddrinfo`, `pthread_mutex_lock`, Dispatch. Outside a blocking
    ///   region no foreign code ever sees an `EINTR` caused by ThreadKill.
    /// - Warning: Do not use stdio (`print`, `fputs`, `fflush`, `fwrite`) in
    ///   `body`. glibc's stdio does not retry `EINTR`: an interrupted write
    ///   makes the call fail with `EINTR` and the data still buffered is
    ///   discarded (measured: `scripts/stdio-eintr.c`, Docs/Interrupt.md).
    ///   Write before or after the region, or use ``write(_:_:)``.
    /// - Throws: The kill, or what `body` throws.
    public func blocking<R>(_ body: () throws -> R) throws -> R {
        let block = core.block
        if CPthreadShim_uninterruptible_depth(block) > 0 || CPthreadShim_region_load(block) == CPthreadShim_REGION_BLOCKING {
            return try body()  // no wake-ups wanted, or already inside a region
        }
        if CPthreadShim_kill_load_acquire(block) != 0 { try deliver(.interruptible()) }
        var saved = sigset_t()
        CPthreadShim_blocking_enter(block, &saved)
        // The region is published (sequentially consistent): a stop posted
        // before now, which saw no region and sent no signal, is seen here.
        if CPthreadShim_kill_load_acquire(block) != 0 {
            CPthreadShim_blocking_leave(block, &saved)
            try deliver(.interruptible())
            CPthreadShim_blocking_enter(block, &saved)  // nothing deliverable after all
        }
        let result = Result { try body() }
        CPthreadShim_blocking_leave(block, &saved)
        if CPthreadShim_kill_load_acquire(block) != 0 { try deliver(.interruptible()) }
        return try result.get()
    }
}
