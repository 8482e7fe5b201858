import ThreadKill
import ThreadKillStress

/// `threadkill stress`: random methods at random moments, then health checks.
struct StressCommand: Subcommand {
    /// What `--seconds` and `--watchdog-seconds` accept: more than zero, and at
    /// most 10⁹ s (about 31 years), far beyond any real run and well within
    /// the range of the `Duration` it becomes.
    static let durationRequirement = ValueRequirement<Double>.positive.and(.atMost(1_000_000_000))

    static let secondsOption = OptionSpec("seconds", help: "How long to run, in seconds.", defaultValue: "10")
    static let threadsOption = OptionSpec(
        "threads", help: "Concurrent workers (each with its own killer), from 1 to 256.", defaultValue: "4")
    static let seedOption = OptionSpec("seed", help: "Seed of the schedule; random (and printed) if omitted.")
    static let methodsOption = OptionSpec(
        "methods", help: "Comma-separated methods: \(StressMethod.allCases.map(\.rawValue).joined(separator: ", ")).",
        defaultValue: StressMethod.allCases.map(\.rawValue).joined(separator: ","))
    static let operationsOption = OptionSpec(
        "operations", help: "Stop each worker after this many operations.", isHidden: true)
    static let injectFaultOption = OptionSpec(
        "inject-fault", help: "Commit a deliberate violation: \(StressFault.allCases.map(\.rawValue).joined(separator: ", ")).",
        isHidden: true)
    static let watchdogSecondsOption = OptionSpec(
        "watchdog-seconds", help: "End the run when a worker makes no progress for this many seconds.",
        defaultValue: "10", isHidden: true)

    static let spec = CommandSpec(
        path: "threadkill stress",
        abstract: "Kill random workers with random methods at random moments, then check the process is healthy.",
        discussion: """
            Workers run cooperative loops, blocked pipe and socket reads, masked sections holding a \
            Mutex, allocating async regions and foreign blocking reads, wrapped in nested cleanups; \
            killers stop them with the chosen methods. The run ends with invariant checks and a last \
            line "N passed, N failed"; the exit status is 1 if any failed, and 3 if the watchdog \
            found a worker stuck for 10 s. The same --seed replays the same schedule.
            """,
        options: [
            secondsOption, threadsOption, seedOption, methodsOption,
            operationsOption, injectFaultOption, watchdogSecondsOption,
        ]
    )

    /// How long workers keep starting operations, in seconds.
    let seconds: Double
    /// Concurrent workers.
    let threads: Int
    /// The schedule's seed; nil: drawn at random when the run starts.
    let seed: UInt64?
    /// The methods drawn from, in declaration order.
    let methods: [StressMethod]
    /// Operations per worker before it stops; nil: until the time is up.
    let operations: Int?
    /// A deliberate violation, for the tests.
    let injectFault: StressFault?
    /// How long a worker may make no progress before the watchdog ends the run.
    let watchdogSeconds: Double

    init(_ arguments: ParsedArguments) throws(UsageError) {
        seconds = try arguments.value(of: Self.secondsOption, default: 10, Self.durationRequirement)
        threads = try arguments.value(of: Self.threadsOption, default: 4, .between(1...256))
        seed = try arguments.value(of: Self.seedOption)
        operations = try arguments.value(of: Self.operationsOption, .positive)
        watchdogSeconds = try arguments.value(
            of: Self.watchdogSecondsOption, default: 10, Self.durationRequirement)

        let methodList: String = try arguments.value(of: Self.methodsOption) ?? Self.methodsOption.defaultValue!
        guard let methods = StressMethod.parseList(methodList) else {
            let unknown = methodList.split(separator: ",").map { $0.split(separator: " ").joined(separator: " ") }
                .first { StressMethod(rawValue: $0) == nil }
            let choices = StressMethod.allCases.map(\.rawValue).joined(separator: ", ")
            throw arguments.error(unknown.map { "unknown method '\($0)' in --methods; choose from \(choices)" }
                ?? "--methods needs at least one of \(choices)")
        }
        self.methods = methods

        if let fault: String = try arguments.value(of: Self.injectFaultOption) {
            guard let parsed = StressFault(rawValue: fault) else {
                let choices = StressFault.allCases.map(\.rawValue).joined(separator: ", ")
                throw arguments.error("unknown fault '\(fault)' for --inject-fault; choose one of \(choices)")
            }
            injectFault = parsed
        } else {
            injectFault = nil
        }
    }

    func run() throws -> ExitStatus {
        // Choosing the seed is the one use of system randomness; the schedule comes from the seed.
        let seed = seed ?? UInt64.random(in: 0...UInt64.max)
        let duration = Duration.milliseconds(Int64(seconds * 1_000))
        let display = ProgressDisplay()
        print("threadkill stress: seed \(seed) (replay with --seed \(seed)), \(threads) threads, \(fixed(seconds, 1)) s, methods \(methods.map(\.rawValue).joined(separator: ","))")
        let latencies = LatencySamples()
        let configuration = StressConfiguration(
            duration: duration, threads: threads, seed: seed, methods: methods, operationsPerWorker: operations,
            fault: injectFault,
            watchdogTimeout: .milliseconds(Int64(watchdogSeconds * 1_000)), tickInterval: display.tickInterval(for: duration))
        let report = StressEngine(configuration, onKill: latencies.record, onTick: display.show).run()
        display.finish()
        print(StressSummary(report: report, latencies: latencies.percentiles).lines.joined(separator: "\n"))
        return report.failed > 0 ? .failure : .success
    }
}
