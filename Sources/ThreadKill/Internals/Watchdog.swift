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
    /// When the first resend comes for a kill sent into an async region.
    /// There a declining handler retries on the thread's own timer every
    /// 100 µs, so the watchdog is only the backstop (a timer that could not be
    /// made, a kill still pending after the region): waking it 200 µs after
    /// every kill made the next kill's signal wait for a CPU (Docs/Latency.md).
    static let asyncRegionFirstResend: UInt64 = 5_000_000
    /// How long resends go on before the watchdog gives up (the kill stays
    /// pending, and the give-up is counted on the thread).
    static let resendWindow = Atomic<UInt64>(5_000_000_000)
    /// How long past the resend window the thread's own retry timer may still
    /// signal a declined kill (Docs/SafetyModel.md, "Retries"): it does not
    /// depend on this thread being scheduled to keep retrying until then.
    static let retryGrace: UInt64 = 10_000_000

    /// The longest a pending kill goes unlooked-at while its last signal is
    /// still in flight (see `Resend.interval`).
    static let inFlightMaxInterval: UInt64 = 6_400_000
    /// A pass also takes the entries due this soon, and the next pass comes
    /// no sooner: passes are at least this far apart, however spread the
    /// entries' times are.
    static let passSlack: UInt64 = 100_000

    /// `time` rounded up to a multiple of `step`: kills due at nearby times
    /// are looked at in one pass (a pass reads every entry's time).
    private static func aligned(_ time: UInt64, to step: UInt64) -> UInt64 {
        let remainder = time % step
        return remainder == 0 ? time : time.saturatingAdd(step - remainder)
    }

    private struct Resend {
        let core: ThreadCore
        let giveUpAt: UInt64
        /// When the watchdog looks at this kill next.
        var dueAt: UInt64
        /// ``resendInterval``, doubled (to ``inFlightMaxInterval``) each time
        /// a look finds the last signal still in flight: its thread has not
        /// run since, or has the signal blocked outside a region, and a resend
        /// could only follow it once it is handled. Looking costs a cache miss
        /// on the thread's state: 10,000 interrupted threads waiting for a
        /// CPU, looked at every 200 µs, cost the watchdog 10–120 ms of CPU
        /// per 10,000 kills (Docs/Latency.md, "Sixth run").
        var interval: UInt64
    }

    private struct Budget {
        let core: ThreadCore
        let limit: UInt64
        var nextCheck: UInt64
    }

    let lock = ConditionLock.make()
    private var resends: [ObjectIdentifier: Resend] = [:]
    private var budgets: [ObjectIdentifier: Budget] = [:]
    private var started = false  // false again in a forked child (its thread did not come along)
    /// The watchdog thread sleeps in read(2) on this timer (a timerfd on
    /// CLOCK_MONOTONIC, absolute); -1 until it starts. A request arms it for
    /// its first deadline instead of waking the thread: a kill costs one
    /// `timerfd_settime` and no context switch, and the watchdog runs only
    /// when there is something to resend (a kill still unconsumed 200 µs on)
    /// or a budget to check.
    private var timer: Int32 = -1
    /// When the timer fires next; `.max`: disarmed.
    private var armedAt = UInt64.max

    /// Resends `core`'s pending kill from `firstAfter` ns on, every
    /// ``resendInterval`` after that, until it is taken or the window ends.
    func resend(to core: ThreadCore, firstAfter: UInt64 = resendInterval) {
        lock.withLock {
            let now = monotonicNanos()
            let dueAt = Self.aligned(now.saturatingAdd(firstAfter), to: Self.passSlack)
            resends[ObjectIdentifier(core)] = Resend(core: core, giveUpAt: now.saturatingAdd(Self.resendWindow.load(ordering: .relaxed)),
                                                     dueAt: dueAt, interval: Self.resendInterval)
            startIfNeeded()
            wake(at: dueAt)
        }
    }

    func watchBudget(of core: ThreadCore, limit: UInt64) {
        lock.withLock {
            let nextCheck = monotonicNanos().saturatingAdd(limit)
            budgets[ObjectIdentifier(core)] = Budget(core: core, limit: limit, nextCheck: nextCheck)
            startIfNeeded()
            wake(at: nextCheck)
        }
    }

    /// Makes the watchdog run at `deadline` at the latest; `lock` held.
    private func wake(at deadline: UInt64) {
        if deadline < armedAt { arm(deadline) }
    }

    /// Sets the timer to fire at `deadline` (`.max` disarms it); `lock` held.
    private func arm(_ deadline: UInt64) {
        armedAt = deadline
        if CPthreadShim_timerfd_arm(timer, deadline) != 0 {
            preconditionFailure("ThreadKill: timerfd_settime failed for the watchdog: errno \(errno)")
        }
    }

    private func startIfNeeded() {
        guard !started else { return }
        started = true
        timer = CPthreadShim_timerfd_create()
        if timer < 0 { preconditionFailure("ThreadKill: cannot create the watchdog's timer: errno \(errno)") }
        armedAt = .max
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
        // The timer is the parent's too (a forked fd shares its file): arming
        // it here would wake the parent's watchdog. The next start makes one.
        if timer >= 0 { close(timer) }
        timer = -1
        armedAt = .max
        resends = resends.filter { $0.value.core.existsHere }
        budgets = budgets.filter { $0.value.core.existsHere }
    }

    private func run() {
        lock.lock()
        while true {
            let now = monotonicNanos()
            var wakeAt = UInt64.max
            // Entries are dropped after the walk, not during it: removing one
            // while iterating would make the dictionary copy itself.
            var ended: [ObjectIdentifier] = []
            let horizon = now.saturatingAdd(Self.passSlack)
            var slot = resends.startIndex
            while slot != resends.endIndex {  // by slot: updated in place, no copy
                defer { resends.formIndex(after: &slot) }
                let entry = resends.values[slot]
                if entry.dueAt > horizon {
                    wakeAt = min(wakeAt, entry.dueAt)
                    continue
                }
                let core = entry.core
                if !core.hasSignalledKillPending || core.lifecycle != .running || !core.existsHere {
                    ended.append(resends.keys[slot])
                } else if now >= entry.giveUpAt {
                    ended.append(resends.keys[slot])
                    core.resendsAbandoned.add(1, ordering: .relaxed)
                    KillEvents.resendsAbandoned(on: core)
                    SignalSetup.recheck()  // a kill that never lands: was our handler replaced?
                } else {
                    let interval: UInt64
                    if CPthreadShim_signal_in_flight(core.block) != 0 {
                        interval = min(entry.interval.saturatingAdd(entry.interval), Self.inFlightMaxInterval)
                    } else {
                        core.kick()
                        interval = Self.resendInterval
                    }
                    let dueAt = min(Self.aligned(now.saturatingAdd(interval), to: interval / 2), entry.giveUpAt)
                    resends.values[slot].interval = interval
                    resends.values[slot].dueAt = dueAt
                    wakeAt = min(wakeAt, dueAt)
                }
            }
            for key in ended { resends[key] = nil }
            ended.removeAll(keepingCapacity: true)
            var exceeded: [ThreadCore] = []
            // Walked by index, as `budgets.indices` would hold a second
            // reference to the storage and make the in-place update copy it.
            var index = budgets.startIndex
            while index != budgets.endIndex {
                defer { budgets.formIndex(after: &index) }
                let entry = budgets.values[index]
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
                        ended.append(budgets.keys[index])
                    } else {
                        wakeAt = min(wakeAt, now.saturatingAdd(Self.resendInterval))
                    }
                    continue
                }
                if used >= entry.limit {
                    ended.append(budgets.keys[index])
                    exceeded.append(entry.core)
                } else {
                    // CPU time grows at most as fast as wall time: nothing can
                    // happen before the remaining budget has passed.
                    budgets.values[index].nextCheck = now.saturatingAdd(entry.limit - used)
                    wakeAt = min(wakeAt, budgets.values[index].nextCheck)
                }
            }
            for key in ended { budgets[key] = nil }
            let budgetKilled = !exceeded.isEmpty
            if budgetKilled {
                lock.unlock()
                for core in exceeded { core.budgetExceeded() }  // each posts a resend: taken on the next pass
                lock.lock()
            }
            // A budget kill just added a resend that `wakeAt` does not know of
            // (it armed the timer, which `arm(wakeAt)` would overwrite): go round again.
            if budgetKilled { continue }
            arm(wakeAt == .max ? .max : max(wakeAt, horizon))
            let timer = self.timer
            lock.unlock()
            // Returns when the timer fires: at `wakeAt`, or sooner if a
            // request armed it sooner since (a timerfd keeps its expiry, so
            // one armed before this read is not lost). EINTR: go round.
            var expirations: UInt64 = 0
            _ = read(timer, &expirations, MemoryLayout<UInt64>.size)
            lock.lock()
        }
    }
}
