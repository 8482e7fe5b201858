#if canImport(Glibc)
import Glibc
#endif
import CPthreadShim
import Synchronization

/// The live killable threads. Only start and exit take its lock; kills go
/// straight to a thread's own ``ThreadCore``.
enum Registry {
    /// A pthread mutex rather than a `Mutex`: fork handling must hold it
    /// across `fork()` (ForkSafety.swift).
    static let lock = ConditionLock()
    private nonisolated(unsafe) static var live: [UInt64: ThreadCore] = [:]  // guarded by `lock`

    static func insert(_ core: ThreadCore) { lock.withLock { live[core.id] = core } }
    static func remove(_ core: ThreadCore) { _ = lock.withLock { live.removeValue(forKey: core.id) } }
    /// The live threads that exist in this process, oldest first.
    static var all: [ThreadCore] { lock.withLock { Array(live.values) }.filter(\.existsHere).sorted { $0.id < $1.id } }

    /// In a forked child: forgets the threads that did not come along.
    static func forgetThreadsLeftBehind() { live = live.filter { $0.value.existsHere } }
}
