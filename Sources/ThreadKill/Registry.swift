#if canImport(Glibc)
import Glibc
#endif
import CPthreadShim
import Synchronization

/// The live killable threads. Only start and exit touch it; kills go
/// straight to a thread's own ``ThreadCore``.
///
/// Striped: a thread lives in the shard its id picks, so starts and exits of
/// different threads rarely take the same lock (a mass stop of 10,000
/// threads once spent an eighth of its time in a single registry lock).
/// Only the listing (``all``) and fork handling take every shard.
enum Registry {
    private final class Shard: @unchecked Sendable {  // `live` guarded by `lock`
        /// A pthread mutex rather than a `Mutex`: fork handling must hold it
        /// across `fork()` (ForkSafety.swift).
        let lock = ConditionLock.make()
        var live: [UInt64: ThreadCore] = [:]
    }

    private static let shards: [Shard] = (0..<16).map { _ in Shard() }

    private static func shard(for core: ThreadCore) -> Shard { shards[Int(core.id % UInt64(shards.count))] }

    static func insert(_ core: ThreadCore) {
        let shard = shard(for: core)
        shard.lock.withLock { shard.live[core.id] = core }
    }

    static func remove(_ core: ThreadCore) {
        let shard = shard(for: core)
        _ = shard.lock.withLock { shard.live.removeValue(forKey: core.id) }
    }

    /// The lock that guards `core`'s end (``ThreadCore``'s `isDone` and end
    /// waiters), with the condition its end is broadcast on: its shard's.
    /// A thread has no lock of its own for its end (it would cost ~130 bytes
    /// of malloc per thread); a shard's waiters wake for every end in the
    /// shard and check their own thread's again.
    static func endLock(for core: ThreadCore) -> ConditionLock { shard(for: core).lock }

    /// The exit path's one registry step: removes `core` and, under the same
    /// lock, runs `publish` (which marks its end) and wakes the shard's waiters.
    static func removeAndPublishEnd<R>(_ core: ThreadCore, _ publish: () -> R) -> R {
        let shard = shard(for: core)
        return shard.lock.withLock {
            shard.live.removeValue(forKey: core.id)
            let result = publish()
            shard.lock.broadcast()
            return result
        }
    }

    /// The live threads that exist in this process, oldest first.
    static var all: [ThreadCore] {
        shards.flatMap { shard in shard.lock.withLock { Array(shard.live.values) } }.filter(\.existsHere).sorted { $0.id < $1.id }
    }

    /// Before fork(): takes every shard's lock, in order.
    static func lockAll() { for shard in shards { shard.lock.lock() } }
    /// In the parent after fork(): releases them.
    static func unlockAll() { for shard in shards.reversed() { shard.lock.unlock() } }

    /// In a forked child, holding every shard since before the fork: forgets
    /// the threads that did not come along and releases the shards.
    static func forgetThreadsLeftBehindAndUnlock() {
        for shard in shards.reversed() {
            shard.live = shard.live.filter { $0.value.existsHere }
            shard.lock.unlockAfterFork()
        }
    }
}
