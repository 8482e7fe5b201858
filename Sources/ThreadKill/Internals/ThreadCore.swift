#if canImport(Glibc)
import Glibc
#endif
import CPthreadShim
import Synchronization

/// Everything ThreadKill keeps for one killable thread, shared by its handles,
/// its context and the registry. One object per thread, never reused: the
/// object's identity is the thread's generation, so no handle can ever reach a
/// later thread that got the same recycled `pthread_t`.
final class ThreadCore: StopHook, @unchecked Sendable {  // `block` is owned; see the accessors' rules in CPthreadShim.h
    enum Lifecycle: UInt64 {
        case starting = 0, running = 1, exiting = 2, finished = 3
    }

    /// Pending kills that carry data beyond their bit in the kill word.
    ///
    /// The kills a delivery point throws are kept boxed as `any Error`, boxed
    /// by the sender: throwing one then allocates nothing on the target, whose
    /// kill path stays free of malloc (a thread's first malloc attaches it to
    /// an arena and allocates glibc's per-thread cache, ~10 µs, which the
    /// kill's latency would pay). One word each, too, where a `KillError?` takes four.
    struct Requests {
        var stop: (any Error)?  // a KillError
        var interrupt: (any Error)?  // a KillError
        var budget: (any Error)?  // a KillError
        var raise: (any Error)?
        var cancel: (any Error)?  // a KillError, boxed by the canceller (see recordEnding(by:thrown:))
        var cancelled: (any Error)?  // a cancel that acted (a KillError): sticky
        var droppedRaises = 0
        /// Times the pending sticky kill (a cancel that acted, else the stop)
        /// has been thrown: every throw after the first was swallowed.
        var stopThrows = 0
        var cancelledThrows = 0
        /// The kill that ended the body, once it has, as the body threw it
        /// (a boxed KillError): kept as thrown so that the thread does not
        /// free the box (see ``recordEnding(by:thrown:)``).
        var endingKill: (any Error)?
    }

    let id: UInt64
    let name: String
    let daemon: Bool
    // Next to `daemon`, so that the small fields share one word: the object
    // lives as long as its thread, and its size is paid per thread.
    private var isDone = false  // guarded by `done`
    /// The fork generation the thread was started in (see ``existsHere``).
    private let forkGeneration = CPthreadShim_fork_generation()
    let createdAt: UInt64
    let block: UnsafeMutablePointer<CPthreadShim_block>
    let stop: StopSource
    /// `[in-flight senders: 32 | lifecycle: 32]`. A sender takes a reference
    /// with one CAS that also checks the thread is running; the thread's exit
    /// gate waits for the references to drain, so `pthread_kill` never reaches
    /// an exited (and possibly recycled) thread.
    private let word = Atomic<UInt64>(Lifecycle.starting.rawValue)
    private static let refUnit: UInt64 = 1 << 32
    /// The low half of `word`: a `Lifecycle` raw value.
    private static let lifecycleMask: UInt64 = refUnit - 1
    private let pthreadBits = Atomic<UInt>(0)
    /// Guarded by the block's state lock: use ``withRequests(_:)``.
    @exclusivity(unchecked) private var requests = Requests()
    /// Wakes the thread out of a `ctx.wait(on:)`; set only while it waits.
    private let waker = Mutex<(@Sendable () -> Void)?>(nil)
    /// Guards `isDone` and `endWaiters`: the registry shard's lock, which the
    /// exit path takes anyway (one lock on the way out, none per thread).
    private var done: ConditionLock { Registry.endLock(for: self) }
    /// Async waiters for the thread's end (see ``awaitEnd(timeoutNanos:)``);
    /// guarded by `done`, resolved by the thread's exit path.
    private var endWaiters: [ObjectIdentifier: OneShot<EndWait>] = [:]

    private static let ids = Atomic<UInt64>(0)

    /// This core's neighbours in its registry shard's list (Registry.swift),
    /// guarded by the shard's lock. The shard holds the next one; the
    /// previous one is held by its own previous, or is the shard's head.
    @exclusivity(unchecked) var registryNext: ThreadCore?
    @exclusivity(unchecked) unowned(unsafe) var registryPrevious: ThreadCore?

    /// The period of the thread's trace tick, if it has one.
    var tickNanos: UInt64? { tickPeriod == 0 ? nil : tickPeriod }
    private let tickPeriod: UInt64  // 0: none (a tick is at least 100 µs); not an optional: 8 bytes less per thread

    init(name: String, daemon: Bool, stopToken: StopToken?, tickNanos: UInt64? = nil) {
        precondition(tickNanos != 0, "a tick of 0 ns")
        self.tickPeriod = tickNanos ?? 0
        self.id = Self.ids.add(1, ordering: .relaxed).newValue
        self.name = name
        self.daemon = daemon
        self.createdAt = monotonicNanos()
        guard let block = CPthreadShim_block_create() else { fatalError("ThreadKill: out of memory") }
        self.block = block
        self.stop = StopSource()
        // The hook is this core, held strongly, and dropped when the thread
        // ends (``threadMain(_:)``) or never starts (``abandonUnstarted()``):
        // a `weak` reference gave every core a side table (a malloc), which
        // sends each retain and release of it down the runtime's slow path.
        // (In a forked child, a thread left behind keeps its core anyway: its
        // start object is on its stack.)
        stop.state.setBeforeRequest(self)
        // Linked only now that the hook is set: a group already stopped stops
        // the source at once, and the hook must set the thread's kill word.
        if let stopToken { stop.state.link(to: stopToken) }
    }

    /// For a core whose thread could not be created: breaks the reference
    /// cycle through its stop source's hook.
    func abandonUnstarted() {
        stop.state.setBeforeRequest(nil)
    }

    deinit {
        callRecord?.deallocate()
        CPthreadShim_block_destroy(block)
    }

    /// The record of the thread's cancellable C calls (Cancellation.swift),
    /// made on first use and kept for the core's life: a kill's waker (which
    /// pokes it) runs outside the waker lock, so it may reach the record
    /// after its call ended — then it only wakes a later call spuriously,
    /// which re-checks. It also keeps the helper thread parked by the last
    /// call that returned, for the next; the thread's exit ends it. Owner thread only.
    private var callRecord: UnsafeMutablePointer<CPthreadShim_call>?

    /// The record for a cancellable call, set to `call` (owner thread only).
    /// Its state word is stored atomically: a late poke may touch it meanwhile.
    func cancellableCallRecord(_ call: CPthreadShim_call) -> UnsafeMutablePointer<CPthreadShim_call> {
        guard let record = callRecord else {
            let record = UnsafeMutablePointer<CPthreadShim_call>.allocate(capacity: 1)
            record.initialize(to: call)
            callRecord = record
            return record
        }
        record.pointee.result = call.result
        // Not `thread`: the record keeps the helper parked by the last call.
        record.pointee.function = call.function
        record.pointee.argument = call.argument
        record.pointee.cleanup = call.cleanup
        record.pointee.cleanup_argument = call.cleanup_argument
        CPthreadShim_word_store(CPthreadShim_call_state(record), call.state)
        return record
    }

    /// Runs `body` on the pending requests under the block's state lock, with
    /// the calling thread's kills deferred. The block's lock, not a `Mutex`:
    /// a new thread's first `Mutex` lock makes a `gettid` system call, on the
    /// kill path (see CPthreadShim_state_lock).
    @inline(__always)
    private func withRequests<R, E: Error>(_ body: (inout Requests) throws(E) -> R) throws(E) -> R {
        try withInternalMask { () throws(E) -> R in
            CPthreadShim_state_lock(block)
            defer { CPthreadShim_state_unlock(block) }
            return try body(&requests)
        }
    }

    // MARK: Lifecycle

    var lifecycle: Lifecycle {
        Lifecycle(rawValue: word.load(ordering: .acquiring) & Self.lifecycleMask)!
    }

    var pthread: pthread_t? {
        let bits = pthreadBits.load(ordering: .acquiring)
        return bits == 0 ? nil : pthread_t(bits)
    }

    var isCurrentThread: Bool { CPthreadShim_thread_block() == block }

    /// Whether the thread exists in this process. In a child forked from the
    /// process that started it, only the thread that called fork() does: every
    /// other is a copy of its memory with no thread behind it.
    var existsHere: Bool {
        forkGeneration == CPthreadShim_fork_generation() || block == CPthreadShim_fork_survivor()
    }

    /// Runs on the new thread: binds the block, runs `body`, passes the exit gate.
    func threadMain(_ body: () -> Void) {
        CPthreadShim_thread_bind(block)
        pthreadBits.store(UInt(pthread_self()), ordering: .releasing)
        setThreadName()
        // A started flag, not `timer_t?`: timer_t is a pointer-sized id, and
        // the kernel's first timer in a process has id 0, which Swift sees as nil.
        var tick: (started: Bool, timer: timer_t?) = (false, nil)
        if let tickNanos {
            var timer: timer_t?
            if CPthreadShim_tick_start(Int64(clamping: tickNanos), &timer) == 0 { tick = (true, timer) }
        }
        _ = word.compareExchange(expected: Lifecycle.starting.rawValue, desired: Lifecycle.running.rawValue, ordering: .acquiringAndReleasing)
        body()
        // No delivery point is left to act on a stop, and the hook holds this core.
        stop.state.setBeforeRequest(nil)
        // The helper thread a cancellable call left parked ends with its caller.
        if let callRecord { _ = CPthreadShim_call_cancel(callRecord) }
        if tick.started { CPthreadShim_tick_stop(tick.timer) }
        passExitGate()
        CPthreadShim_thread_bind(nil)
        let waiters = Registry.removeAndPublishEnd(self) { () -> [OneShot<EndWait>] in
            isDone = true
            defer { endWaiters.removeAll() }
            return Array(endWaiters.values)
        }
        // Outside the lock: resuming schedules each awaiting task on its own
        // executor; this thread only hands it over.
        for waiter in waiters { waiter.resolve(.ended) }
    }

    private func setThreadName() {
        // The kernel keeps 15 bytes; cut at a scalar boundary, found in the
        // UTF-8 bytes (a scalar-by-scalar copy cost ~400 instructions per
        // thread start). In a buffer on the stack: an idle thread that never
        // calls malloc costs no per-thread malloc cache (glibc's tcache).
        var buffer: (UInt64, UInt64) = (0, 0)
        var name = name
        name.withUTF8 { utf8 in
            var count = min(utf8.count, 15)
            // A continuation byte (10xxxxxx) right after the cut: its scalar began before it.
            while count < utf8.count && count > 0 && utf8[count] & 0xC0 == 0x80 { count -= 1 }
            withUnsafeMutableBytes(of: &buffer) { bytes in
                bytes.copyMemory(from: UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(utf8)[..<count]))
                _ = CPthreadShim_pthread_setname_np(bytes.baseAddress!.assumingMemoryBound(to: CChar.self))
            }
        }
    }

    private func passExitGate() {
        var w = word.load(ordering: .relaxed)
        while true {
            let desired = (w & ~Self.lifecycleMask) | Lifecycle.exiting.rawValue
            let (exchanged, original) = word.compareExchange(expected: w, desired: desired, ordering: .acquiringAndReleasing)
            if exchanged { break }
            w = original
        }
        while word.load(ordering: .acquiring) >> 32 != 0 { sched_yield() }
        word.store(Lifecycle.finished.rawValue, ordering: .releasing)
    }

    /// Waits until the thread has passed its exit gate and published its outcome.
    func waitDone(until deadline: Deadline) -> Bool {
        let done = self.done
        return done.withLock {
            while !isDone {
                if !done.wait(until: deadline) { return isDone }
            }
            return true
        }
    }

    /// Whether the thread has passed its exit gate and published its outcome.
    var hasEnded: Bool { done.withLock { isDone } }

    /// How an async wait for the thread's end ended.
    enum EndWait: Sendable, Equatable {
        case ended, timedOut, cancelled
    }

    /// Awaits the thread's end without blocking any thread: the exit path
    /// resumes the continuation. Returns early when the awaiting task is
    /// cancelled (also when it already was) or `timeoutNanos` passes.
    func awaitEnd(timeoutNanos: UInt64?) async -> EndWait {
        if hasEnded { return .ended }
        let waiter = OneShot<EndWait>()
        let end = await withTaskCancellationHandler {
            await withTaskGroup(of: Void.self) { group -> EndWait in
                // A timer task; beyond ~146 years there is nothing to time.
                if let timeoutNanos, timeoutNanos < 1 << 62 {
                    group.addTask {
                        do {
                            try await Task.sleep(for: .nanoseconds(Int64(timeoutNanos)))
                            waiter.resolve(.timedOut)
                        } catch {}  // cancelled: the wait is over anyway
                    }
                }
                let end = await withCheckedContinuation { continuation in
                    waiter.install(continuation)
                    if !addEndWaiter(waiter) { waiter.resolve(.ended) }
                }
                group.cancelAll()
                return end
            }
        } onCancel: {
            waiter.resolve(.cancelled)
        }
        if end != .ended { done.withLock { _ = endWaiters.removeValue(forKey: ObjectIdentifier(waiter)) } }
        return end
    }

    /// Registers `waiter` for the thread's end; false if it has ended already.
    private func addEndWaiter(_ waiter: OneShot<EndWait>) -> Bool {
        done.withLock {
            if isDone { return false }
            endWaiters[ObjectIdentifier(waiter)] = waiter
            return true
        }
    }

    /// Runs `body` with the thread's `pthread_t` while holding a reference that
    /// keeps the thread from exiting. Returns nil if the thread is not running.
    func withRunningThread<R>(_ body: (pthread_t) -> R) -> R? {
        guard existsHere else { return nil }
        var w = word.load(ordering: .acquiring)
        while true {
            guard w & Self.lifecycleMask == Lifecycle.running.rawValue else { return nil }
            let (exchanged, original) = word.compareExchange(expected: w, desired: w + Self.refUnit, ordering: .acquiringAndReleasing)
            if exchanged { break }
            w = original
        }
        defer { word.subtract(Self.refUnit, ordering: .releasing) }
        return body(pthread!)
    }

    // MARK: Sending kills

    /// Refuses targets that a kill may not reach.
    func checkTarget(_ what: String, allowSelf: Bool = false) throws(ThreadKillError) {
        if !existsHere { throw .notInThisProcess(what) }
        if lifecycle == .exiting || lifecycle == .finished { throw .alreadyFinished(what) }
        if !allowSelf && isCurrentThread { throw .callingThread(what) }
    }

    /// What a stop request does to the thread: the sticky stop bit, a wake-up
    /// for its sleeps and waits, and a signal if it is where only a signal
    /// reaches it. Runs before the stop source's flag is set, and directly
    /// from the ladder (whose stop callbacks run elsewhere: they may block).
    func stopRequested() {
        KillEvents.requested(.stopRequested, on: self)
        withRequests { r in
            if r.stop == nil { r.stop = KillError(reason: .stopRequested, id: .next()) }
            _ = CPthreadShim_kill_set(block, UInt32(CPthreadShim_KILL_STOP))
        }
        wake()
        // A stop sends no signal to a thread in ordinary code: it sees the
        // stop at its next delivery point. A thread in an interruptible
        // syscall, a blocking region or an async region has none until a
        // signal arrives. The kill bit was set (sequentially consistent) before
        // the region is read here; each region is published before its code
        // reads the kill bit. So either we see the region, or it sees the bit.
        if wantsSignal { signalUntilTaken() }
    }

    /// Whether the thread is in code that only a signal wakes.
    private var wantsSignal: Bool {
        CPthreadShim_region_load(block) != CPthreadShim_REGION_NONE || CPthreadShim_in_async_region(block) != 0
    }

    func interrupt() throws(ThreadKillError) {
        try checkTarget("interrupt()")
        KillEvents.requested(.interrupted, on: self)
        post(CPthreadShim_KILL_INTERRUPT) { r in
            if r.interrupt == nil { r.interrupt = KillError(reason: .interrupted, id: .next()) }
            return true
        }
    }

    func raise(_ error: any Error) throws(ThreadKillError) -> Bool {
        try checkTarget("raise(_:)")
        return post(CPthreadShim_KILL_RAISE) { r in
            guard r.raise == nil else {
                r.droppedRaises += 1
                return false
            }
            r.raise = error
            return true
        }
    }

    /// Posts a cancel. Its bit in the kill word wakes only a cancellable
    /// syscall (CPthreadShim_KILL_CANCEL): checkpoints, sleeps and the other
    /// syscalls do not act on it. A thread in a cancellable syscall gets the
    /// signal; a helper's call is woken through the waker.
    func cancel() throws(ThreadKillError) {
        try checkTarget("cancel()")
        KillEvents.requested(.cancelled, on: self)
        withRequests { r in
            if r.cancel == nil { r.cancel = KillError(reason: .cancelled, id: .next()) }
            _ = CPthreadShim_kill_set(block, UInt32(CPthreadShim_KILL_CANCEL))
        }
        wake()
        // As for a stop: the bit was set (sequentially consistent) before the
        // region is read; the syscall publishes its region before its stub
        // reads the bit. Either we see the region, or the stub sees the bit.
        if CPthreadShim_region_load(block) == CPthreadShim_REGION_CANCELLABLE {
            kick()
            // The portable stub checks, then calls: resend until the call takes the cancel.
            if CPthreadShim_syscall_cp_is_race_free() == 0 { Watchdog.shared.resend(to: self) }
        }
    }

    /// Consumes a pending cancel: the error to throw (a boxed KillError).
    func takeCancel() -> (any Error)? {
        withRequests { r in
            defer {
                r.cancel = nil
                _ = CPthreadShim_kill_clear(block, UInt32(CPthreadShim_KILL_CANCEL))
            }
            return r.cancel
        }
    }

    var isCancelPending: Bool { withRequests { $0.cancel != nil } }

    /// Records that `cancel` acted: from now on it is thrown at every
    /// delivery point, like a stop.
    func markCancelled(_ cancel: any Error) {
        withRequests { r in
            r.cancelled = cancel
            _ = CPthreadShim_kill_set(block, UInt32(CPthreadShim_KILL_CANCELLED))
        }
        KillEvents.deliveringCancel(cancel, on: self)
    }

    /// Makes the pending kill of `reason` if none is, without posting it, and
    /// returns it: what the event hook reports as requested before the
    /// thread can see it (only while a hook is set).
    func prepareKill(_ reason: KillError.Reason) -> KillError {
        withRequests { r in
            func make(_ slot: inout (any Error)?) -> KillError {
                if let kill = slot as? KillError { return kill }
                let kill = KillError(reason: reason, id: .next())
                slot = kill
                return kill
            }
            func make(_ slot: inout KillError?) -> KillError {
                if slot == nil { slot = KillError(reason: reason, id: .next()) }
                return slot!
            }
            switch reason {
            case .stopRequested: return make(&r.stop)
            case .interrupted: return make(&r.interrupt)
            case .cpuBudgetExceeded: return make(&r.budget)
            case .cancelled: return make(&r.cancel)
            }
        }
    }

    /// Signals the thread and keeps signalling it until the kill is taken or
    /// the resend window ends: the thread's own retries (their deadline is set
    /// before the signal, which the handler that reads it follows), then the
    /// watchdog's resends. Also the ladder's injection step.
    func signalUntilTaken() {
        let window = Watchdog.resendWindow.load(ordering: .relaxed)
        CPthreadShim_retry_until_store(block, monotonicNanos().saturatingAdd(window).saturatingAdd(Watchdog.retryGrace))
        kick()
        let inAsyncRegion = CPthreadShim_in_async_region(block) != 0
        Watchdog.shared.resend(to: self, firstAfter: inAsyncRegion ? Watchdog.asyncRegionFirstResend : Watchdog.resendInterval)
    }

    /// Times the watchdog stopped resending an undelivered kill.
    let resendsAbandoned = Atomic<Int>(0)

    /// Cleanups run so far on this thread.
    let cleanupsRun = Atomic<Int>(0)

    func budgetExceeded() {
        KillEvents.requested(.cpuBudgetExceeded, on: self)
        post(CPthreadShim_KILL_BUDGET) { r in
            if r.budget == nil { r.budget = KillError(reason: .cpuBudgetExceeded, id: .next()) }
            return true
        }
    }

    /// Records a kill and sets its bit under the requests lock (so the owner's
    /// consume-and-clear cannot lose it), then wakes, signals, and asks the
    /// watchdog to resend until the kill is consumed.
    @discardableResult
    private func post(_ bit: Int, _ record: (inout Requests) -> Bool) -> Bool {
        let posted = withRequests { r in
            guard record(&r) else { return false }
            _ = CPthreadShim_kill_set(block, UInt32(bit))
            return true
        }
        guard posted else { return false }
        wake()
        signalUntilTaken()
        return true
    }

    /// Kills that a signal should still be sent for: everything but a stop,
    /// which needs one only where the thread has no delivery point to see it.
    var hasSignalledKillPending: Bool {
        let bits = CPthreadShim_kill_word_value(block)
        if bits & UInt32(CPthreadShim_KILL_CANCEL) != 0 && CPthreadShim_region_load(block) == CPthreadShim_REGION_CANCELLABLE {
            return true  // a cancel for the cancellable syscall the thread is in
        }
        let kills = bits & UInt32(CPthreadShim_KILL_DELIVERABLE)
        return kills & ~UInt32(CPthreadShim_KILL_STOP) != 0 || (kills != 0 && wantsSignal)
    }

    var droppedRaises: Int { withRequests { $0.droppedRaises } }

    /// CPU time used so far, or nil if the thread is not running.
    var cpuNanos: UInt64? {
        withRunningThread { CPthreadShim_thread_cpu_nanos($0) }.flatMap { $0 >= 0 ? UInt64($0) : nil }
    }

    /// Waits on the kill word in progress (`ctx.sleep`, the swallowed-kill
    /// pause): a kill makes the `futex_wake` system call only while one is.
    private let killWordWaiters = Atomic<Int>(0)

    /// Runs `body`, which waits on the kill word (a futex), counted so that
    /// ``wake()`` knows to wake it. The count is raised before `body` reads
    /// the kill word; a sender sets its bit before reading the count (both
    /// sequentially consistent): either the wait sees the bit (the futex
    /// compares the word), or the sender sees the count and wakes it.
    func waitingOnKillWord<R>(_ body: () throws -> R) rethrows -> R {
        killWordWaiters.add(1, ordering: .sequentiallyConsistent)
        atomicMemoryFence(ordering: .sequentiallyConsistent)  // orders the C kill-word loads in `body` after the count
        defer { killWordWaiters.subtract(1, ordering: .releasing) }
        return try body()
    }

    /// Wakes every wait that watches the kill word: sleeps, monitor waits.
    /// Called after the kill's bit is set.
    func wake() {
        atomicMemoryFence(ordering: .sequentiallyConsistent)  // the bit before the count (see waitingOnKillWord)
        if killWordWaiters.load(ordering: .sequentiallyConsistent) != 0 {
            CPthreadShim_futex_wake_all(CPthreadShim_kill_word(block))
        }
        // Called outside the lock: the waker's futex wake may hand this CPU
        // to the woken thread, which then takes the lock to clear the waker;
        // under the lock it waited for this thread to run again (3.4 ms once
        // in a traced cancel). Every waker stays safe to call after it was
        // cleared: a monitor's is retained by its closure, a cancellable
        // call's record lives as long as the core.
        let waker = self.waker.withMaskedLock { $0 }
        waker?()
    }

    /// Sends the signal unless one is already in flight.
    @discardableResult
    func kick() -> Bool {
        withRunningThread { CPthreadShim_kick(block, $0) } == 1
    }

    // MARK: Receiving kills (owner thread only)

    /// Consumes the highest-priority pending kill and returns it: a raised
    /// error, then an interrupt, then a budget kill (each consumed), then a
    /// stop (sticky: returned again at every later call).
    func takeKill() -> (any Error)? {
        withRequests { r in take(from: &r, bits: CPthreadShim_kill_load(block)) }
    }

    /// What an interruptible call does first: ``takeKill()``, unless the body
    /// has swallowed the pending sticky kill and the call should pause before
    /// throwing it again (``swallowedStickyPause()``): then the pause, and no
    /// kill is taken. One lock for both.
    func takeKillUnlessSwallowed() -> KillOrPause {
        withRequests { r in
            let bits = CPthreadShim_kill_load_acquire(block)
            if let pause = Self.swallowedPause(r, bits: bits) { return .pause(pause) }
            return .kill(take(from: &r, bits: bits))
        }
    }

    enum KillOrPause {
        case kill((any Error)?)
        case pause(UInt64)
    }

    private func take(from r: inout Requests, bits: UInt32) -> (any Error)? {
        func consume(_ bit: Int) { _ = CPthreadShim_kill_clear(block, UInt32(bit)) }
        if bits & UInt32(CPthreadShim_KILL_RAISE) != 0, let error = r.raise {
            r.raise = nil
            consume(CPthreadShim_KILL_RAISE)
            return error
        }
        if bits & UInt32(CPthreadShim_KILL_INTERRUPT) != 0, let kill = r.interrupt {
            r.interrupt = nil
            consume(CPthreadShim_KILL_INTERRUPT)
            return kill
        }
        if bits & UInt32(CPthreadShim_KILL_BUDGET) != 0, let kill = r.budget {
            r.budget = nil
            consume(CPthreadShim_KILL_BUDGET)
            return kill
        }
        if bits & UInt32(CPthreadShim_KILL_CANCELLED) != 0, let kill = r.cancelled {
            r.cancelledThrows += 1
            return kill
        }
        if bits & UInt32(CPthreadShim_KILL_STOP) != 0, let kill = r.stop {
            r.stopThrows += 1
            return kill
        }
        return nil
    }

    /// How many times `kill` was thrown in this thread (sticky kills may be
    /// thrown many times; the others once).
    func timesThrown(_ kill: KillError) -> Int {
        withRequests { r in Self.timesThrown(kill, r) }
    }

    private static func timesThrown(_ kill: KillError, _ r: Requests) -> Int {
        // By reason first: unboxing a pending kill is a run-time cast.
        if kill.reason == .cancelled, kill == r.cancelled as? KillError { return r.cancelledThrows }
        if kill.reason == .stopRequested, kill == r.stop as? KillError { return r.stopThrows }
        return 1
    }

    /// Records that `kill`, thrown as `thrown`, ended the body (``endingKill``)
    /// and returns how many times it was thrown (``timesThrown(_:)``). One
    /// lock for both.
    ///
    /// `thrown`, the error as the body threw it, is kept until the core is
    /// released, on the thread that releases the handle last (the joining
    /// one). A taken interrupt's box has no other owner: released on the
    /// killed thread, its `free` would be that thread's first, which sets up
    /// glibc's per-thread cache and binds an arena, only to tear them down
    /// at exit (640 instructions per interrupt; Docs/Latency.md).
    func recordEnding(by kill: KillError, thrown: any Error) -> Int {
        withRequests { r in
            r.endingKill = thrown
            return Self.timesThrown(kill, r)
        }
    }

    /// The kill that ended the thread's body, if one did. Set before the exit
    /// gate, so it is known once ``waitDone(until:)`` returns true.
    var endingKill: KillError? { withRequests { $0.endingKill } as? KillError }

    /// Throws of sticky kills so far, whatever their fate.
    var stickyThrows: Int { withRequests { $0.stopThrows + $0.cancelledThrows } }

    /// How long an interruptible wait should pause before throwing a sticky
    /// kill again that the body has already swallowed: nil when nothing but
    /// such a kill is pending, or it was not swallowed yet. Doubles per
    /// swallow, from 1 ms to 100 ms: a catch-all around `ctx.sleep` then wakes
    /// ten times a second instead of spinning, and any new kill still wakes it
    /// at once (it changes the kill word the pause waits on).
    func swallowedStickyPause() -> UInt64? {
        let bits = CPthreadShim_kill_load_acquire(block)
        guard Self.onlySticky(bits) else { return nil }
        return withRequests { r in Self.swallowedPause(r, bits: bits) }
    }

    private static func onlySticky(_ bits: UInt32) -> Bool {
        let sticky = UInt32(CPthreadShim_KILL_STOP | CPthreadShim_KILL_CANCELLED)
        return bits != 0 && bits & ~sticky == 0
    }

    private static func swallowedPause(_ r: Requests, bits: UInt32) -> UInt64? {
        guard onlySticky(bits) else { return nil }
        let swallowed = bits & UInt32(CPthreadShim_KILL_CANCELLED) != 0 ? r.cancelledThrows : r.stopThrows
        guard swallowed > 0 else { return nil }
        return min(1_000_000 << UInt64(min(swallowed - 1, 20)), 100_000_000)
    }

    /// Installs (or clears) the closure that wakes the thread from a monitor wait.
    func setWaker(_ wake: (@Sendable () -> Void)?) {
        waker.withMaskedLock { $0 = wake }
    }
}
