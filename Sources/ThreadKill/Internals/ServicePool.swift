#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A small pool of plain service threads for work that may block: a job goes
/// to an idle thread, or to a new one when all are busy, so one job that
/// takes long (or never returns) holds one thread and delays nobody else's.
///
/// Two pools exist: ``StopCallbackRunner`` (`threadkill-stop`) runs stop
/// requests and their callbacks for the ladder; ``AsyncBridge`` (`threadkill-wait`)
/// runs the blocking waits and ladders of the async API, so that no
/// Swift-concurrency pool thread ever blocks on them.
final class ServicePool: @unchecked Sendable {  // `state` guarded by `lock`
    private struct State {
        var queue: [(id: UInt64, job: @Sendable () -> Void)] = []
        var idle = 0
        var nextID: UInt64 = 0
    }

    /// What `/proc/self/task/*/comm` shows for the pool's threads (at most 15 bytes).
    let name: String
    let lock = ConditionLock.make()
    private var state = State()

    init(name: String) { self.name = name }

    /// In a forked child, with `lock` held since before the fork: no pool
    /// thread came along. Queued jobs belonged to threads left behind.
    func resetAfterFork() { state = State() }

    /// Starts `work` on a pool thread and returns a flag that turns true when
    /// it has returned. If no pool thread can be started and none takes it,
    /// runs it here.
    @discardableResult
    func run(_ work: @escaping @Sendable () -> Void) -> Completion {
        let completion = Completion()
        let job: @Sendable () -> Void = {
            work()
            completion.done.store(true, ordering: .releasing)
        }
        let (id, needThread) = lock.withLock { () -> (UInt64, Bool) in
            state.nextID += 1
            state.queue.append((state.nextID, job))
            if state.idle > 0 {
                state.idle -= 1  // claimed: it will take this job
                lock.broadcast()
                return (state.nextID, false)
            }
            return (state.nextID, true)
        }
        if needThread {
            do {
                try startServiceThread(named: name) { [self] in serve() }
            } catch {
                // No thread: run this job here, unless a pool thread took it meanwhile.
                let mine = lock.withLock { () -> (@Sendable () -> Void)? in
                    guard let i = state.queue.firstIndex(where: { $0.id == id }) else { return nil }
                    return state.queue.remove(at: i).job
                }
                mine?()
            }
        }
        return completion
    }

    /// Runs `work` on a pool thread and returns its value; the calling task is
    /// suspended meanwhile, its thread is free for other tasks.
    func value<T: Sendable>(of work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { (continuation: CheckedContinuation<T, Never>) in
            run { continuation.resume(returning: work()) }
        }
    }

    /// Whether a job handed to the pool has returned.
    final class Completion: Sendable {
        let done = Atomic(false)
        var isDone: Bool { done.load(ordering: .acquiring) }
    }

    private func serve() -> Never {
        lock.lock()
        while true {
            while state.queue.isEmpty { lock.wait(until: .never) }
            let job = state.queue.removeFirst().job
            lock.unlock()
            job()
            lock.lock()
            state.idle += 1
        }
    }
}

/// Runs stop requests (and so their ``StopToken/onStop(_:)`` callbacks) off
/// the caller's thread, for the escalation ladder: a callback may take long
/// or block for ever, and a ladder must still end within its grace.
enum StopCallbackRunner {
    static let pool = ServicePool(name: "threadkill-stop")
    typealias Completion = ServicePool.Completion

    static func run(_ work: @escaping @Sendable () -> Void) -> Completion { pool.run(work) }
}

/// Where the async API does what would block: a ladder's climb, a process's
/// wait and terminate. Its threads are plain service threads (`threadkill-wait`),
/// never Swift-concurrency pool threads.
enum AsyncBridge {
    static let pool = ServicePool(name: "threadkill-wait")
}
