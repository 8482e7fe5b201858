/// The settings of one stress run.
public struct StressConfiguration: Sendable {
    /// How long workers keep starting operations.
    public var duration: Duration
    /// Concurrent workers; each has a killer and one target at a time.
    public var threads: Int
    /// Fixes every schedule decision (not the timing).
    public var seed: UInt64
    /// The methods drawn from.
    public var methods: [StressMethod]
    /// Stops each worker after this many operations, even if time remains.
    public var operationsPerWorker: Int?
    /// A deliberate violation, to prove the invariant checks can fail.
    public var fault: StressFault?
    /// The program the process method starts in worker mode; nil for this one.
    /// It must register ``StressJobs`` and call `IsolatedProcess.runWorkerIfRequested()`.
    public var processExecutable: String?
    /// A worker that makes no progress for this long ends the run with a dump.
    public var watchdogTimeout: Duration
    /// How often progress is reported and the periodic checks run.
    public var tickInterval: Duration

    /// A configuration; the watchdog fires after 10 s without progress.
    public init(
        duration: Duration, threads: Int, seed: UInt64, methods: [StressMethod] = StressMethod.allCases,
        operationsPerWorker: Int? = nil, fault: StressFault? = nil, processExecutable: String? = nil,
        watchdogTimeout: Duration = .seconds(10), tickInterval: Duration = .seconds(1)
    ) {
        self.duration = duration
        self.threads = threads
        self.seed = seed
        self.methods = methods
        self.operationsPerWorker = operationsPerWorker
        self.fault = fault
        self.processExecutable = processExecutable
        self.watchdogTimeout = watchdogTimeout
        self.tickInterval = tickInterval
    }
}

/// A deliberate violation a run can commit, so a test can see the checks fail.
public enum StressFault: String, CaseIterable, Sendable {
    /// Counts one cleanup as registered without registering it: "every cleanup
    /// ran exactly once" must fail.
    case skipCleanup = "skip-cleanup"
    /// Opens one descriptor and never closes it: "no descriptor leaked" must fail.
    case leakDescriptor = "leak-descriptor"
    /// Parks one worker's killer for good: the watchdog must end the run.
    case stallWorker = "stall-worker"
    /// Leaks 256 KiB (touched) per operation, as a library leak would: "resident
    /// memory growth bounded" must fail.
    case leakMemory = "leak-memory"
}

/// How far a run has got, for progress output.
public struct StressProgress: Sendable {
    /// Since the workers started.
    public let elapsed: Duration
    /// The configured duration.
    public let duration: Duration
    /// Kills completed so far.
    public let kills: Int
    /// Kills that ended in an undocumented way so far.
    public let undocumented: Int
    /// Periodic invariant checks that failed so far.
    public let failedChecks: Int
}
