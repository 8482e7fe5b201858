#if canImport(Glibc)
import Glibc
#endif
import CPthreadShim
import Synchronization

/// ThreadKill's one service thread. It resends the signal to threads whose
/// kill has not been consumed yet (a foreign call may have been between two
/// syscalls when the first signal came), and it enforces CPU-time budgets.
///
/// Resends follow the one-in-flight protocol: `CPthreadShim_kick` sends only
/// when the handler has consumed the previous signal, so real-time signals
/// never pile up in the target's queue.
final class Watchdog: @unchecked Sendable {  // all state guarded by `lock`
    static let shared = Watchdog()

    /// How often an unconsumed kill is signalled again.
    static let resendInterval: UInt64 = 200_000
    /// How long resends go on before the watchdog gives up (the kill stays
    /// pending, and the give-up is counted on the thread).
    static let resendWindow = Atomic<UInt64>(5_000_000_000)

    private struct Resend {
        let core: ThreadCore
        let giveUpAt: UInt64
    }

    private struct Budget {
        let core: ThreadCore
        let limit: UInt64
        var nextCheck: UInt64
    }

    let lock = ConditionLock()
    private var resends: [ObjectIdentifier: Resend] = [:]
    private var budgets: [ObjectIdentifier: Budget] = [:]
    private var started = false  // false again in a forked child (its thread did not come along)

    func resend(to core: ThreadCore) {
        lock.withLock {
            resends[ObjectIdentifier(core)] = Resend(core: core, giveUpAt: monotonicNanos().saturatingAdd(Self.resendWindow.load(ordering: .relaxed)))
            startIfNeeded()
            lock.broadcast()
        }
    }

    func watchBudget(of core: ThreadCore, limit: UInt64) {
        lock.withLock {
            budgets[ObjectIdentifier(core)] = Budget(core: core, limit: limit, nextCheck: monotonicNanos().saturatingAdd(limit))
            startIfNeeded()
            lock.broadcast()
        }
    }

    private func startIfNeeded() {
        guard !started else { return }
        started = true
        do {
            try startServiceThread(named: "threadkill-wd") { [self] in run() }
        } catch {
            preconditionFailure("ThreadKill: cannot start its watchdog thread: \(error)")
        }
    }

    /// In a forked child, with `lock` held since before the fork: no watchdog
    /// thread exists here; the next request starts one.
    func resetAfterFork() {
        started = false
        resends = resends.filter { $0.value.core.existsHere }
        budgets = budgets.filter { $0.value.core.existsHere }
    }

    private func run() {
        lock.lock()
        while true {
            let now = monotonicNanos()
            var wakeAt = UInt64.max
            for (key, entry) in resends {
                if !entry.core.hasSignalledKillPending || entry.core.lifecycle != .running || !entry.core.existsHere {
                    resends[key] = nil
                } else if now >= entry.giveUpAt {
                    resends[key] = nil
                    entry.core.resendsAbandoned.add(1, ordering: .relaxed)
                    KillEvents.resendsAbandoned(on: entry.core)
                    SignalSetup.recheck()  // a kill that never lands: was our handler replaced?
                } else {
                    entry.core.kick()
                    wakeAt = min(wakeAt, now.saturatingAdd(Self.resendInterval))
                }
            }
            var budgetKilled = false
            for (key, var entry) in budgets {
                if now < entry.nextCheck {
                    wakeAt = min(wakeAt, entry.nextCheck)
                    continue
                }
                guard let used = entry.core.cpuNanos else {
                    // Not running: ended (drop the budget), or not started yet
                    // — and it may have started since cpuNanos looked, so only
                    // an end drops it (a dropped budget is never enforced).
                    let lifecycle = entry.core.lifecycle
                    if lifecycle == .exiting || lifecycle == .finished || !entry.core.existsHere {
                        budgets[key] = nil
                    } else {
                        wakeAt = min(wakeAt, now.saturatingAdd(Self.resendInterval))
                    }
                    continue
                }
                if used >= entry.limit {
                    budgets[key] = nil
                    lock.unlock()
                    entry.core.budgetExceeded()  // posts a resend: taken on the next pass
                    lock.lock()
                    budgetKilled = true
                } else {
                    // CPU time grows at most as fast as wall time: nothing can
                    // happen before the remaining budget has passed.
                    entry.nextCheck = now.saturatingAdd(entry.limit - used)
                    budgets[key] = entry
                    wakeAt = min(wakeAt, entry.nextCheck)
                }
            }
            // A budget kill just added a resend that `wakeAt` does not know of
            // (its broadcast came while this thread held no wait): go round again.
            if budgetKilled { continue }
            lock.wait(until: Deadline(nanos: wakeAt == .max ? nil : wakeAt))
        }
    }
}
