#if canImport(Glibc)
import Glibc
#endif
import Benchmark
import CLatencyFloor
import ThreadKill

/// ThreadKill's kill latencies, each beside the raw C floor doing the same,
/// as ordo-one/benchmark benchmarks (Docs/Benchmarks.md).
///
/// Every case of `threadkill latency` is two benchmarks here, "<case> · C floor"
/// and "<case> · ThreadKill", run one after the other in the same run. Both
/// run the CLI's own code: `LatencyCases.swift` and `LatencyBatches.swift` in
/// this directory are symbolic links to `Sources/threadkill/Latency/`, and the
/// C floor is the root package's `Sources/CLatencyFloor` (a link too).
@main
enum ThreadKillBenchmarks {
    static func main() async {
        // A copy of this binary started by IsolatedProcess (case (k)), or as
        // the raw pausing child of (k)'s floor, must do that and nothing else,
        // before any argument parsing, output or thread (as Entry.swift does).
        // An async main starts on the main thread, the process's only one,
        // and stays there until its first suspension.
        LatencyJobs.register()
        IsolatedProcess.runWorkerIfRequested()
        await BenchmarkRunner.setupBenchmarkRunner(registerBenchmarks: registerBenchmarks)
    }

    static func registerBenchmarks() {
        for latencyCase in LatencyCase.all {
            register(latencyCase)
        }
        for batch in LatencyBatch.all {
            register(batch)
        }
    }

    /// The figure of a per-kill case: one sample per iteration, one new thread each.
    static let killToJoin = BenchmarkMetric.custom("kill → join (ns)", polarity: .prefersSmaller, useScalingFactor: false)

    /// A per-kill case: one trial per iteration, so the percentiles are the trials'.
    private static func register(_ latencyCase: LatencyCase) {
        let configuration = Benchmark.Configuration(
            metrics: [killToJoin], units: [killToJoin: .count],
            warmupIterations: 20, maxDuration: .seconds(5), maxIterations: 500
        )
        if let floor = latencyCase.c {
            Benchmark("\(latencyCase.label) · C floor", configuration: configuration) { benchmark in
                let signal = try RunSetup.shared.get().signals.floor
                unblock(signal)
                var sample: UInt64 = 0
                try withUnsafeMutablePointer(to: &sample) { try floor(signal, UnsafeMutableBufferPointer(start: $0, count: 1), 0) }
                benchmark.measurement(killToJoin, Int(sample))
            }
        }
        Benchmark("\(latencyCase.label) · ThreadKill", configuration: configuration) { benchmark in
            let fd = try RunSetup.shared.get().fd
            benchmark.measurement(killToJoin, Int(try latencyCase.swift(fd)))
        }
    }

    /// A batch case: one run of the batch per iteration (a few runs: each is
    /// 1,000 to 50 M calls, or 10,000 threads).
    private static func register(_ batch: LatencyBatch) {
        let figure = BatchFigure(batch)
        let runs = batch.label.contains("mass") ? 3 : batch.label.contains("process") ? 40 : 7
        let configuration = Benchmark.Configuration(
            metrics: [figure.metric], units: [figure.metric: .count],
            warmupIterations: 1, maxDuration: .seconds(30), maxIterations: runs
        )
        for (side, run) in [("C floor", batch.c), ("ThreadKill", batch.swift)] {
            Benchmark("\(batch.label) · \(side)", configuration: configuration) { benchmark in
                let context = try RunSetup.shared.get().batchContext
                unblock(context.floorSignal)
                let value = try run(context)
                benchmark.measurement(figure.metric, Int((value * figure.scale).rounded()))
            }
        }
    }
}

/// Unblocks the C floor's signal in the calling thread, so that the threads
/// it creates inherit a mask that lets it in. The benchmark tool starts this
/// process with almost every signal blocked, and pool threads block them too;
/// `threadkill latency` runs on a main thread with an empty mask.
private func unblock(_ signal: Int32) {
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, signal)
    pthread_sigmask(SIG_UNBLOCK, &set, nil)
}

/// How a batch's figure is recorded: benchmark metrics are integers, so
/// fractional units are scaled down (ns/call → ps/call, ms → µs, µs → ns).
struct BatchFigure {
    let metric: BenchmarkMetric
    let scale: Double

    init(_ batch: LatencyBatch) {
        let (unit, scale): (String, Double) =
            switch batch.unit {
            case "ns/call": ("ps/call", 1000)
            case "ms": ("µs", 1000)
            case "µs": ("ns", 1000)
            default: (batch.unit, 1)
            }
        let polarity: BenchmarkMetric.Polarity = batch.unit.hasSuffix("/s") ? .prefersLarger : .prefersSmaller
        // "(g) spawn+stop+join" → "spawn+stop+join (threads/s)"
        let name = batch.label.drop { $0 != " " }.dropFirst()
        metric = .custom("\(name) (\(unit))", polarity: polarity, useScalingFactor: false)
        self.scale = scale
    }
}

/// What every benchmark of a process shares, made on first use in the process
/// that runs it: the signals (ThreadKill's installed, the floor's picked) and a
/// pipe that nobody writes to, for the reads that are interrupted.
struct RunSetup: Sendable {
    let signals: LatencySignals
    let fd: Int32

    var batchContext: BatchContext { BatchContext(floorSignal: signals.floor, fd: fd) }

    static let shared = Result { try RunSetup() }

    private init() throws {
        signals = try LatencySignals.install()
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw LatencyError("pipe failed: errno \(errno)") }
        fd = fds[0]  // both ends stay open for the life of the process
    }
}
