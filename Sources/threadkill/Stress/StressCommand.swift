import ArgumentParser
import ThreadKill
import ThreadKillStress

/// `threadkill stress`: random methods at random moments, then health checks.
struct StressCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stress",
        abstract: "Kill random workers with random methods at random moments, then check the process is healthy.",
        discussion: """
            Workers run cooperative loops, blocked pipe and socket reads, masked sections holding a \
            Mutex, allocating async regions and foreign blocking reads, wrapped in nested cleanups; \
            killers stop them with the chosen methods. The run ends with invariant checks and a last \
            line "N passed, N failed"; the exit status is non-zero if any failed, and 3 if the \
            watchdog found a worker stuck for 10 s. The same --seed replays the same schedule.
            """
    )

    @Option(help: "How long to run, in seconds.")
    var seconds: Double = 10

    @Option(help: "Concurrent workers (each with its own killer).")
    var threads: Int = 4

    @Option(help: "Seed of the schedule; random (and printed) if omitted.")
    var seed: UInt64?

    @Option(help: "Comma-separated methods: \(StressMethod.allCases.map(\.rawValue).joined(separator: ", ")).")
    var methods: String = StressMethod.allCases.map(\.rawValue).joined(separator: ",")

    @Option(help: ArgumentHelp("Stop each worker after this many operations.", visibility: .hidden))
    var operations: Int?

    @Option(help: ArgumentHelp("Commit a deliberate violation: \(StressFault.allCases.map(\.rawValue).joined(separator: ", ")).", visibility: .hidden))
    var injectFault: String?

    @Option(help: ArgumentHelp("End the run when a worker makes no progress for this many seconds.", visibility: .hidden))
    var watchdogSeconds: Double = 10

    func validate() throws {
        guard watchdogSeconds > 0, watchdogSeconds.isFinite else { throw ValidationError("--watchdog-seconds must be positive") }
        guard seconds > 0, seconds.isFinite else { throw ValidationError("--seconds must be positive") }
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be between 1 and 256") }
        guard StressMethod.parseList(methods) != nil else {
            throw ValidationError("--methods takes a comma-separated list of \(StressMethod.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let injectFault, StressFault(rawValue: injectFault) == nil {
            throw ValidationError("--inject-fault takes one of \(StressFault.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let operations, operations < 1 { throw ValidationError("--operations must be positive") }
    }

    func run() throws {
        // Choosing the seed is the one use of system randomness; the schedule comes from the seed.
        let seed = seed ?? UInt64.random(in: 0...UInt64.max)
        let methods = StressMethod.parseList(methods)!
        let duration = Duration.milliseconds(Int64(seconds * 1_000))
        let display = ProgressDisplay()
        print("threadkill stress: seed \(seed) (replay with --seed \(seed)), \(threads) threads, \(String(format1: seconds)) s, methods \(methods.map(\.rawValue).joined(separator: ","))")
        let latencies = LatencySamples()
        let configuration = StressConfiguration(
            duration: duration, threads: threads, seed: seed, methods: methods, operationsPerWorker: operations,
            fault: injectFault.flatMap(StressFault.init(rawValue:)),
            watchdogTimeout: .milliseconds(Int64(watchdogSeconds * 1_000)), tickInterval: display.tickInterval(for: duration))
        let report = StressEngine(configuration, onKill: latencies.record, onTick: display.show).run()
        display.finish()
        print(StressSummary(report: report, latencies: latencies.percentiles).lines.joined(separator: "\n"))
        if report.failed > 0 { throw ExitCode(1) }
    }
}
