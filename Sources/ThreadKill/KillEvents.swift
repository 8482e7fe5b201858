#if canImport(Glibc)
import Glibc
#endif
import CPthreadShim
import Synchronization

/// Something ThreadKill did to a killable thread, or noticed about the
/// process, as the event hook (``KillableThreads/eventHook``) sees it.
///
/// Which fields are set depends on ``kind``; the others are nil (or 0).
/// ThreadKill's integrations forward these to a logger; a program can
/// forward them anywhere (metrics, a trace) with a hook of its own.
public struct KillEvent: Sendable, CustomStringConvertible {
    /// What happened. A struct with static members rather than an enum, so
    /// that a later release can add a kind without breaking a `switch` in
    /// your code (compare with `==`).
    public struct Kind: Sendable, Hashable, CustomStringConvertible {
        /// How the event is named in its ``KillEvent/description``.
        public let rawValue: String
        private init(_ rawValue: String) { self.rawValue = rawValue }

        /// A kill was requested: a stop, an interrupt, a cancel or a CPU
        /// budget kill (``KillEvent/kill``). Emitted before the thread can
        /// see it, so it always comes before its ``delivered``. A request that
        /// joins a kill already pending names that kill again.
        public static let requested = Kind("requested")
        /// The thread threw the kill (``KillEvent/kill``) for the first time:
        /// at a delivery point, by a jump out of an async region, or out of
        /// a cancelled C call. A sticky kill caught and thrown again is not
        /// reported again (the ``ended`` report counts the swallows).
        public static let delivered = Kind("delivered")
        /// The signal handler declined to jump out of an async region
        /// ``KillEvent/count`` times for ``KillEvent/declineReason`` since
        /// the last report; the kill stays pending. Reported by the thread
        /// before it takes the kill and when it ends, and by the watchdog when
        /// it gives up resending — never from the signal handler.
        public static let declined = Kind("declined")
        /// The escalation ladder took a step (``KillEvent/step``) on the thread.
        public static let escalated = Kind("escalated")
        /// The watchdog gave up resending a kill the thread has not taken
        /// within ``KillableThreads/resendWindow``; it stays pending.
        public static let resendsAbandoned = Kind("resends abandoned")
        /// ThreadKill's signal handler for ``KillEvent/signal`` was replaced
        /// by someone else: signal-based kills no longer land. ``KillEvent/thread`` is nil.
        public static let signalHandlerReplaced = Kind("signal handler replaced")
        /// The exit policy is stopping the thread: the program exits and the
        /// thread, not a daemon, had not ended within ``ExitPolicy/waitForNonDaemon``.
        public static let exitPolicyStop = Kind("exit-policy stop")
        /// The thread's body ended: ``KillEvent/report`` is the kill that ended
        /// it, ``KillEvent/error`` the body's own error; both nil if it returned.
        public static let ended = Kind("ended")

        public var description: String { rawValue }
    }

    /// What happened.
    public let kind: Kind
    /// The thread it happened to; nil for ``Kind/signalHandlerReplaced``.
    public let thread: ThreadRef?
    /// The kill, for ``Kind/requested`` and ``Kind/delivered``.
    public let kill: KillError?
    /// Why the handler declined, for ``Kind/declined``.
    public let declineReason: InjectionStatistics.DeclineReason?
    /// How many declines (``Kind/declined``) or abandoned resend windows
    /// (``Kind/resendsAbandoned``, the thread's total so far); 0 otherwise.
    public let count: Int
    /// The ladder's step, for ``Kind/escalated``.
    public let step: StopLadder.Step?
    /// The kill that ended the thread, for ``Kind/ended``.
    public let report: KillReport?
    /// The body's own error that ended the thread, for ``Kind/ended``.
    public let error: (any Error)?
    /// ThreadKill's signal, for ``Kind/signalHandlerReplaced``.
    public let signal: Signal?

    init(_ kind: Kind, thread: ThreadRef?, kill: KillError? = nil, declineReason: InjectionStatistics.DeclineReason? = nil,
         count: Int = 0, step: StopLadder.Step? = nil, report: KillReport? = nil, error: (any Error)? = nil, signal: Signal? = nil) {
        self.kind = kind
        self.thread = thread
        self.kill = kill
        self.declineReason = declineReason
        self.count = count
        self.step = step
        self.report = report
        self.error = error
        self.signal = signal
    }

    public var description: String {
        let subject = thread.map { "thread #\($0.id) \($0.name)" } ?? "process"
        var detail: String
        switch kind {
        case .requested, .delivered: detail = kill.map { "\($0.reason.rawValue) (kill #\($0.id.rawValue))" } ?? ""
        case .declined: detail = "\(count)× \(declineReason?.rawValue ?? "")"
        case .escalated: detail = step?.rawValue ?? ""
        case .resendsAbandoned: detail = "\(count) so far"
        case .signalHandlerReplaced: detail = signal.map { "signal \($0)" } ?? "signal"
        case .ended: detail = report.map { "\($0)" } ?? error.map { "threw \($0)" } ?? "returned"
        default: detail = ""
        }
        return "\(subject): \(kind.rawValue)" + (detail.isEmpty ? "" : ": \(detail)")
    }
}

extension KillableThreads {
    /// A function that observes kill events (``KillEvent``): requests,
    /// declined jumps, deliveries, ladder steps, abandoned resends, a
    /// replaced signal handler, exit-policy stops and each thread's end. Nil
    /// (the default) turns events off: each place that could emit one then
    /// costs a single relaxed atomic load, and nothing is allocated.
    ///
    /// The hook is called on the thread where the event happens — the
    /// killable thread itself, the thread that asked for the kill, or one of
    /// ThreadKill's service threads — one event at a time: calls never
    /// overlap, and the events of one kill arrive in the order they happened.
    /// It is never called from a signal handler, and on a killable thread it
    /// runs with kills masked.
    ///
    /// - Important: Keep the hook short and non-blocking, as a log handler
    ///   is: it may run while ThreadKill holds a lock, and every other event
    ///   waits for it. Do not stop, interrupt, cancel or raise in threads from
    ///   it, nor set the hook from it.
    public static var eventHook: (@Sendable (KillEvent) -> Void)? {
        get { KillEvents.hook.withLock { $0 } }
        set { KillEvents.setHook(newValue) }
    }
}

/// The event hook's plumbing. Every `emit` site does one relaxed load of
/// `isOn` inline; all the rest is out of line and runs only when a hook is set.
enum KillEvents {
    static let isOn = Atomic<Bool>(false)
    fileprivate static let hook = Mutex<(@Sendable (KillEvent) -> Void)?>(nil)
    /// Held while the hook runs: one event at a time, in order. `owner` lets
    /// an event emitted from inside the hook through without deadlocking.
    private static let emitting = Mutex<Void>(())
    private static let owner = Atomic<UInt>(0)
    /// Declines already reported, by thread id (never reused); only while a hook is set.
    private static let reported = Mutex<[UInt64: [InjectionStatistics.DeclineReason: Int]]>([:])

    fileprivate static func setHook(_ newHook: (@Sendable (KillEvent) -> Void)?) {
        hook.withLock { $0 = newHook }
        isOn.store(newHook != nil, ordering: .relaxed)
        if newHook == nil { reported.withLock { $0.removeAll() } }
    }

    /// Emits the event `make` builds, if a hook is set.
    @inline(__always)
    static func emit(_ make: () -> KillEvent) {
        if isOn.load(ordering: .relaxed) { emitNow([make()]) }
    }

    /// Emits from a thread that holds a lock the hook might need (the
    /// watchdog's, the signal setup's): on a service thread, later.
    @inline(__always)
    static func emitLater(_ make: @escaping @Sendable () -> [KillEvent]) {
        if isOn.load(ordering: .relaxed) { StopCallbackRunner.pool.run { emitNow(make()) } }
    }

    /// `kill` was requested on `core`.
    @inline(__always)
    static func requested(_ reason: KillError.Reason, on core: ThreadCore) {
        if isOn.load(ordering: .relaxed) { emitNow([KillEvent(.requested, thread: ThreadRef(core: core), kill: core.prepareKill(reason))]) }
    }

    /// The owner thread is about to throw `error` from a delivery point.
    @inline(__always)
    static func delivering(_ error: any Error, on core: ThreadCore) {
        if isOn.load(ordering: .relaxed) { deliveringSlow(error, on: core) }
    }

    @inline(never)
    private static func deliveringSlow(_ error: any Error, on core: ThreadCore) {
        // A sticky kill is reported on its first throw; a cancel when it acts (markCancelled).
        guard let kill = error as? KillError, kill.reason != .cancelled, core.timesThrown(kill) <= 1 else { return }
        emitNow(declines(of: core) + [KillEvent(.delivered, thread: ThreadRef(core: core), kill: kill)])
    }

    /// A cancel acted on the owner thread: it is about to be thrown.
    @inline(__always)
    static func deliveringCancel(_ cancel: any Error, on core: ThreadCore) {
        if isOn.load(ordering: .relaxed), let kill = cancel as? KillError {
            emitNow(declines(of: core) + [KillEvent(.delivered, thread: ThreadRef(core: core), kill: kill)])
        }
    }

    /// The thread's body ended with `outcome`; on the thread, before its exit gate.
    @inline(__always)
    static func ended(_ ending: Ending, on core: ThreadCore) {
        if isOn.load(ordering: .relaxed) { endedSlow(report: ending.report, error: ending.ownError, on: core) }
    }

    @inline(never)
    private static func endedSlow(report: KillReport?, error: (any Error)?, on core: ThreadCore) {
        let events = declines(of: core) + [KillEvent(.ended, thread: ThreadRef(core: core), report: report, error: error)]
        _ = reported.withLock { $0.removeValue(forKey: core.id) }
        emitNow(events)
    }

    /// The watchdog gave up resending to `core` (called with its lock held).
    @inline(__always)
    static func resendsAbandoned(on core: ThreadCore) {
        emitLater {
            declines(of: core) + [KillEvent(.resendsAbandoned, thread: ThreadRef(core: core), count: core.resendsAbandoned.load(ordering: .relaxed))]
        }
    }

    /// The declines counted on `core` since the last report, as events.
    private static func declines(of core: ThreadCore) -> [KillEvent] {
        let now = InjectionStatistics(block: core.block).declines
        let before = reported.withLock { table in
            let key = core.id
            defer { table[key] = now }
            return table[key] ?? [:]
        }
        let ref = ThreadRef(core: core)
        return InjectionStatistics.DeclineReason.allCases.compactMap { reason in
            let new = (now[reason] ?? 0) - (before[reason] ?? 0)
            return new > 0 ? KillEvent(.declined, thread: ref, declineReason: reason, count: new) : nil
        }
    }

    /// Calls the hook with each event, in order, one caller at a time.
    @inline(never)
    private static func emitNow(_ events: [KillEvent]) {
        guard let hook = hook.withLock({ $0 }), !events.isEmpty else { return }
        withInternalMask {
            let me = UInt(pthread_self())
            if owner.load(ordering: .relaxed) == me {
                events.forEach(hook)  // from inside the hook: already serialized
                return
            }
            emitting.withLock { _ in
                owner.store(me, ordering: .relaxed)
                defer { owner.store(0, ordering: .relaxed) }
                events.forEach(hook)
            }
        }
    }
}
