#if canImport(Glibc)
import Glibc
#endif
import CPthreadShim
import Synchronization

/// What happens to killable threads when the program exits: the seed's daemon
/// method. Non-daemon threads are waited for, then stopped; daemon threads are
/// abandoned and die with the process.
public struct ExitPolicy: Sendable, Hashable {
    /// How long an orderly exit waits for non-daemon threads to end by
    /// themselves; nil waits for ever (Python's behaviour).
    public var waitForNonDaemon: Duration?
    /// How long the escalation ladder then has to stop those still running.
    public var stopGrace: Duration

    /// - Precondition: Durations are not negative.
    public init(waitForNonDaemon: Duration? = .seconds(10), stopGrace: Duration = .seconds(2)) {
        precondition(waitForNonDaemon.map { $0 >= .zero } ?? true && stopGrace >= .zero, "exit policy durations must not be negative")
        self.waitForNonDaemon = waitForNonDaemon
        self.stopGrace = stopGrace
    }
}

/// What ``KillableThreads/shutdown(grace:ladder:)`` did.
public struct ShutdownReport: Sendable, Hashable, CustomStringConvertible {
    /// What the ladder did to one thread.
    public struct Entry: Sendable, Hashable {
        /// The thread.
        public let thread: ThreadRef
        /// How the ladder stopped it, or did not.
        public let report: StopReport
    }

    /// One entry per thread that was live when the shutdown began, oldest first.
    public let threads: [Entry]
    /// Threads that did not end within the grace.
    public var notStopped: [ThreadRef] { threads.filter { !$0.report.stopped }.map(\.thread) }

    public var description: String {
        "\(threads.count - notStopped.count) of \(threads.count) threads stopped" +
            (notStopped.isEmpty ? "" : "; not stopped: \(notStopped.map(\.description).joined(separator: ", "))")
    }
}

extension KillableThreads {
    private static let policy = Mutex(ExitPolicy())
    private static let exiting = Atomic(false)

    /// The policy applied at orderly exit: by ``exit(_:)``, by returning from
    /// `main`, or by `exit(3)` (an `atexit` hook installed with the first
    /// killable thread).
    public static var exitPolicy: ExitPolicy {
        get { policy.withMaskedLock { $0 } }
        set { policy.withMaskedLock { $0 = newValue } }
    }

    /// Exits the program in order: waits for non-daemon killable threads (up
    /// to ``ExitPolicy/waitForNonDaemon``), stops those still running with the
    /// escalation ladder (so their cleanups run), abandons daemon threads, then
    /// calls `exit(code)`.
    public static func exit(_ code: Int32) -> Never {
        orderlyExit()
        Glibc.exit(code)
    }

    /// Stops every live killable thread, daemon or not, with the escalation
    /// ladder, all at once, within `grace`; their cleanups run.
    /// - Throws: ``ThreadKillError/Code/invalidDuration`` for a negative grace.
    @discardableResult
    public static func shutdown(grace: Duration, ladder: StopLadder = .default) throws(ThreadKillError) -> ShutdownReport {
        let nanos = try grace.validatedNanos("shutdown(grace:)")
        return shutdown(Registry.all.filter { !$0.isCurrentThread }, graceNanos: nanos, ladder: ladder)
    }

    private static func shutdown(_ cores: [ThreadCore], graceNanos: UInt64, ladder: StopLadder) -> ShutdownReport {
        let reports = StopLadder.climb(ladder, on: cores, graceNanos: graceNanos)
        return ShutdownReport(threads: zip(cores.map(ThreadRef.init(core:)), reports).map { ShutdownReport.Entry(thread: $0, report: $1) })
    }

    /// The orderly-exit procedure; runs once per process.
    static func orderlyExit() {
        guard !exiting.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let policy = exitPolicy
        let nonDaemon = Registry.all.filter { !$0.daemon && !$0.isCurrentThread }
        let deadline = Deadline(after: policy.waitForNonDaemon?.nonNegativeNanos)
        let running = nonDaemon.filter { !$0.waitDone(until: deadline) }
        if !running.isEmpty {
            for core in running { KillEvents.emit { KillEvent(.exitPolicyStop, thread: ThreadRef(core: core)) } }
            _ = shutdown(running, graceNanos: policy.stopGrace.nonNegativeNanos ?? 0, ladder: .default)
        }
    }

    /// Installs the `atexit` hook once (called when the first thread starts).
    static func installExitHook() {
        _ = exitHookInstalled
    }

    private static let exitHookInstalled: Bool = {
        atexit { KillableThreads.orderlyExit() }
        return true
    }()

    /// Turns SIGINT and SIGTERM into a graceful shutdown: a dedicated thread
    /// waits for them with `sigwait` (no work in a signal handler); the first
    /// stops every killable thread with ``shutdown(grace:ladder:)`` — their cleanups
    /// run — and exits with status 128 + the signal; a second one during the
    /// shutdown exits at once.
    ///
    /// - Important: Call it from `main` before starting other threads: it
    ///   blocks SIGINT and SIGTERM in the calling thread, and only threads
    ///   created afterwards inherit that mask (a thread that does not block
    ///   them would take the signal's default action).
    public static func handleTerminationSignals(grace: Duration = .seconds(2)) throws(ThreadKillError) {
        let graceNanos = try grace.validatedNanos("handleTerminationSignals(grace:)")
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        let err = pthread_sigmask(SIG_BLOCK, &set, nil)
        if err != 0 { throw .system("pthread_sigmask", err) }
        let waiter = SignalWaiter(set: set, graceNanos: graceNanos)
        try startServiceThread(named: "threadkill-sig") { waiter.run() }
    }
}

private final class SignalWaiter: @unchecked Sendable {  // immutable after init
    let set: sigset_t
    let graceNanos: UInt64

    init(set: sigset_t, graceNanos: UInt64) {
        self.set = set
        self.graceNanos = graceNanos
    }

    func run() {
        var set = self.set
        var shuttingDown = false
        while true {
            var signal: Int32 = 0
            guard sigwait(&set, &signal) == 0 else { continue }
            if shuttingDown { _exit(128 + signal) }
            shuttingDown = true
            let (received, grace) = (signal, graceNanos)
            do {
                try startServiceThread(named: "threadkill-exit") {
                    _ = try? KillableThreads.shutdown(grace: .nanoseconds(grace))
                    Glibc.exit(128 + received)
                }
            } catch {
                _exit(128 + signal)
            }
        }
    }
}
