#if canImport(Glibc)
import Glibc
#endif

/// What `fork()` does to ThreadKill, and how it is kept sound.
///
/// A forked child has one thread: the one that called `fork()`. Every other
/// killable thread is a copy of its memory with no thread behind it, and so
/// are ThreadKill's service threads (the watchdog, the spawner, stop-callback
/// runners, the async API's waiters). ThreadCore's ``ThreadCore/existsHere`` tells the two apart (the
/// shim counts forks); these handlers keep ThreadKill's own locks consistent
/// across the fork and reset the service threads' state in the child, so they
/// start again on demand. Installed with the first killable thread.
enum ForkSafety {
    static func install() { _ = installed }

    private static let installed: Bool = {
        pthread_atfork(
            { ForkSafety.prepare() },
            { ForkSafety.parent() },
            { ForkSafety.child() })
        return true
    }()

    /// Before fork(): hold every lock whose state the child needs, so no
    /// other thread is inside one when the address space is copied.
    private static func prepare() {
        Registry.lockAll()
        Watchdog.shared.lock.lock()
        Spawner.lock.lock()
        StopCallbackRunner.pool.lock.lock()
        AsyncBridge.pool.lock.lock()
    }

    private static func parent() {
        AsyncBridge.pool.lock.unlock()
        StopCallbackRunner.pool.lock.unlock()
        Spawner.lock.unlock()
        Watchdog.shared.lock.unlock()
        Registry.unlockAll()
    }

    private static func child() {
        AsyncBridge.pool.resetAfterFork()
        AsyncBridge.pool.lock.unlockAfterFork()
        StopCallbackRunner.pool.resetAfterFork()
        StopCallbackRunner.pool.lock.unlockAfterFork()
        Spawner.resetAfterFork()
        Spawner.lock.unlockAfterFork()
        Watchdog.shared.resetAfterFork()
        Watchdog.shared.lock.unlockAfterFork()
        Registry.forgetThreadsLeftBehindAndUnlock()
    }
}
