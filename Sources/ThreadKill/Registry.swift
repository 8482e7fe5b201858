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
///
/// A shard is a doubly linked list threaded through the cores themselves
/// (``ThreadCore/registryNext``): a start and an exit each relink two
/// neighbours, with no hashing and no table to grow (a dictionary cost ~1,100
/// instructions per thread, callgrind).
enum Registry {
    private final class Shard: @unchecked Sendable {  // `head` and the links guarded by `lock`
        /// A pthread mutex rather than a `Mutex`: fork handling must hold it
        /// across `fork()` (ForkSafety.swift).
        let lock = ConditionLock.make()
        var head: ThreadCore?

        /// Under `lock`.
        func link(_ core: ThreadCore) {
            core.registryNext = head
            core.registryPrevious = nil
            head?.registryPrevious = core
            head = core
        }

        /// Under `lock`. A core that is not linked is left alone.
        func unlink(_ core: ThreadCore) {
            if let previous = core.registryPrevious {
                previous.registryNext = core.registryNext
            } else if head === core {
                head = core.registryNext
            } else {
                return
            }
            core.registryNext?.registryPrevious = core.registryPrevious
            core.registryNext = nil
            core.registryPrevious = nil
        }

        /// Under `lock`.
        var cores: [ThreadCore] {
            var cores: [ThreadCore] = []
            var next = head
            while let core = next {
                cores.append(core)
                next = core.registryNext
            }
            return cores
        }
    }

    private static let shards: [Shard] = (0..<16).map { _ in Shard() }

    static func shardIndex(of core: ThreadCore) -> Int { Int(core.id % UInt64(shards.count)) }
    private static func shard(for core: ThreadCore) -> Shard { shards[shardIndex(of: core)] }

    static func insert(_ core: ThreadCore) {
        let shard = shard(for: core)
        shard.lock.withLock { shard.link(core) }
    }

    static func remove(_ core: ThreadCore) {
        let shard = shard(for: core)
        shard.lock.withLock { shard.unlink(core) }
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
            shard.unlink(core)
            let result = publish()
            shard.lock.broadcast()
            return result
        }
    }

    /// The live threads that exist in this process, oldest first.
    static var all: [ThreadCore] {
        shards.flatMap { shard in shard.lock.withLock { shard.cores } }.filter(\.existsHere).sorted { $0.id < $1.id }
    }

    /// Before fork(): takes every shard's lock, in order.
    static func lockAll() { for shard in shards { shard.lock.lock() } }
    /// In the parent after fork(): releases them.
    static func unlockAll() { for shard in shards.reversed() { shard.lock.unlock() } }

    /// In a forked child, holding every shard since before the fork: forgets
    /// the threads that did not come along and releases the shards.
    static func forgetThreadsLeftBehindAndUnlock() {
        for shard in shards.reversed() {
            for core in shard.cores where !core.existsHere { shard.unlink(core) }
            shard.lock.unlockAfterFork()
        }
    }
}
