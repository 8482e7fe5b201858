#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Runs stop requests (and so their ``StopToken/onStop(_:)`` callbacks) off
/// the caller's thread, for the escalation ladder: a callback may take long
/// or block for ever, and a ladder must still end within its grace.
///
/// A small pool of plain service threads (`threadkill-stop`): a request goes
/// to an idle one, or to a new one when all are busy, so one callback that
/// never returns holds one thread and delays nobody else's stop.
enum StopCallbackRunner {
    private struct State: @unchecked Sendable {  // guarded by `lock`
        var queue: [@Sendable () -> Void] = []
        var idle = 0
    }

    static let lock = ConditionLock()
    private nonisolated(unsafe) static var state = State()

    /// In a forked child, with `lock` held since before the fork: no runner
    /// thread came along. Queued requests belonged to threads left behind.
    static func resetAfterFork() { state = State() }

    /// Starts `work` on a runner thread and returns a flag that turns true
    /// when it has returned. If no runner can be started, runs it here.
    static func run(_ work: @escaping @Sendable () -> Void) -> Completion {
        let completion = Completion()
        let job: @Sendable () -> Void = {
            work()
            completion.done.store(true, ordering: .releasing)
        }
        let needThread = lock.withLock { () -> Bool in
            state.queue.append(job)
            if state.idle > 0 {
                state.idle -= 1  // claimed: it will take this job
                lock.broadcast()
                return false
            }
            return true
        }
        if needThread {
            do {
                try startServiceThread(named: "threadkill-stop") { serve() }
            } catch {
                // No thread: run the oldest queued job (ours or an earlier one) here.
                if let queued = lock.withLock({ state.queue.isEmpty ? nil : state.queue.removeFirst() }) { queued() }
            }
        }
        return completion
    }

    /// Whether a stop request handed to the runner has returned.
    final class Completion: Sendable {
        let done = Atomic(false)
        var isDone: Bool { done.load(ordering: .acquiring) }
    }

    private static func serve() -> Never {
        lock.lock()
        while true {
            while state.queue.isEmpty { lock.wait(until: .never) }
            let job = state.queue.removeFirst()
            lock.unlock()
            job()
            lock.lock()
            state.idle += 1
        }
    }
}
