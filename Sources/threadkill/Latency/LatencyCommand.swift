#if canImport(Glibc)
import Glibc
#endif
import CLatencyFloor
import ThreadKill

/// `threadkill latency`: ThreadKill's kill latencies against the raw C floor,
/// measured in the same run and reported as ratios (DESIGN.md §9).
struct LatencyCommand: Subcommand {
    static let trialsOption = OptionSpec("trials", help: "Measured trials per case and side.", defaultValue: "2000")
    static let warmupOption = OptionSpec("warmup", help: "Discarded warm-up trials per case and side.", defaultValue: "50")
    static let runsOption = OptionSpec("runs", help: "Runs per batch case and side (checkpoint, spawn, mass stop, memory, process); 0 skips them.", defaultValue: "5")
    static let onlyOption = OptionSpec("only", help: "Runs only the cases whose label contains this text, such as \"(f)\" or \"mass\".", defaultValue: "every case")

    static let spec = CommandSpec(
        path: "threadkill latency",
        abstract: "Measure kill → join latencies of ThreadKill against raw C doing the same, as ratios.",
        discussion: """
            Each case starts a new thread per trial, waits until it is spinning or blocked (a \
            handshake, not a sleep), requests the kill and times it until the join returns. The C \
            floor and ThreadKill alternate in blocks of 100 trials, so that load from elsewhere on \
            the machine falls on both. Ratios are ThreadKill / C; absolute numbers are only \
            comparable within one run on one machine. On a terminal, a progress bar shows the \
            trials done.
            """,
        options: [trialsOption, warmupOption, runsOption, onlyOption]
    )

    static let block = 100

    /// Measured trials per case and side.
    let trials: Int
    /// Discarded warm-up trials per case and side.
    let warmup: Int
    /// Runs per batch case and side.
    let runs: Int
    /// Only the cases whose label contains this run (nil: every case).
    let only: String?

    init(_ arguments: ParsedArguments) throws(UsageError) {
        trials = try arguments.value(of: Self.trialsOption, default: 2000, .positive)
        warmup = try arguments.value(of: Self.warmupOption, default: 50, .nonNegative)
        runs = try arguments.value(of: Self.runsOption, default: 5, .nonNegative)
        only = try arguments.value(of: Self.onlyOption)
    }

    func run() throws -> ExitStatus {
        print("$ threadkill \(CommandLine.arguments.dropFirst().joined(separator: " "))")
        print("machine: nproc \(sysconf(Int32(_SC_NPROCESSORS_ONLN))), \(Self.uname())")

        let signals = try LatencySignals.install()
        let floorSignal = signals.floor
        print("signals: ThreadKill \(signals.threadKill), C floor \(floorSignal) (SIGRTMIN+\(floorSignal - CLatencyFloor_sigrtmin()), no SA_RESTART)")
        print("\(trials) trials per case and side after \(warmup) warm-up; C and ThreadKill alternate in blocks of \(Self.block); kill request → join returned")
        print("")

        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw LatencyError("pipe failed: errno \(errno)") }
        defer { fds.forEach { close($0) } }

        let cases = LatencyCase.all.filter { only.map($0.label.contains) ?? true }
        let progress = LatencyProgress(cases: cases, trialsPerSide: warmup + trials)
        var results: [(LatencyCase, LatencyStats?, LatencyStats)] = []
        for latencyCase in cases {
            let (c, swift) = try measure(latencyCase, floorSignal: floorSignal, fd: fds[0], progress: progress)
            let cStats = c.map(LatencyStats.init)
            let swiftStats = LatencyStats(swift)
            results.append((latencyCase, cStats, swiftStats))
            progress.clear()
            Self.printCase(latencyCase, cStats, swiftStats)
        }
        if !results.isEmpty { Self.printSummary(results) }
        if runs > 0 {
            let context = BatchContext(floorSignal: floorSignal, fd: fds[0])
            print("")
            print("batch cases: \(runs) runs per side, C and ThreadKill alternating; median of the runs (min–max)")
            print("")
            var batchResults: [(LatencyBatch, [Double], [Double])] = []
            for batch in LatencyBatch.all where only.map(batch.label.contains) ?? true {
                var c: [Double] = [], swift: [Double] = []
                for _ in 0..<runs {
                    c.append(try batch.c(context))
                    swift.append(try batch.swift(context))
                }
                batchResults.append((batch, c, swift))
                Self.printBatch(batch, c, swift)
            }
            Self.printBatchSummary(batchResults)
        }
        return .success
    }

    private static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return .nan }
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    private static func figure(_ value: Double) -> String {
        value >= 100 ? fixed(value, 0) : value >= 10 ? fixed(value, 1) : fixed(value, 2)
    }

    private static func spread(_ values: [Double]) -> String {
        "\(figure(median(values))) (\(figure(values.min() ?? .nan))–\(figure(values.max() ?? .nan)))"
    }

    /// ThreadKill against C: a quotient, or for a difference case the bytes beyond C.
    private static func compare(_ batch: LatencyBatch, _ c: Double, _ swift: Double) -> (text: String, value: Double) {
        if batch.difference { return ("\(swift - c >= 0 ? "+" : "")\(fixed(swift - c, 0)) B", swift - c) }
        return (ratio(swift, c), swift / c)
    }

    private static func printBatch(_ batch: LatencyBatch, _ c: [Double], _ swift: [Double]) {
        print("\(batch.label)  [\(batch.unit)]")
        print("  C:          \(batch.floor)")
        print("  ThreadKill: \(batch.threadKill)")
        print("  \(padRight("C", 12))\(spread(c))")
        print("  \(padRight("ThreadKill", 12))\(spread(swift))")
        let (text, value) = compare(batch, median(c), median(swift))
        print("  \(padRight(batch.difference ? "TK − C" : "ratio TK/C", 12))\(text)   target \(batch.target): \(batch.meets(value, median(swift)) ? "met" : "missed")")
        print("")
    }

    private static func printBatchSummary(_ results: [(LatencyBatch, [Double], [Double])]) {
        print("batch summary (medians, same run):")
        let widths = [22, 11, 13, 13, 11, 20, 8]
        let header = ["case", "unit", "C", "TK", "TK vs C", "target", ""]
        print("  " + zip(header, widths).enumerated().map { $0.offset == 0 ? padRight($0.element.0, $0.element.1) : pad($0.element.0, $0.element.1) }.joined())
        for (batch, c, swift) in results {
            let (text, value) = compare(batch, median(c), median(swift))
            let cells = [batch.label, batch.unit, figure(median(c)), figure(median(swift)), text, batch.target, batch.meets(value, median(swift)) ? "met" : "missed"]
            print("  " + zip(cells, widths).enumerated().map { $0.offset == 0 ? padRight($0.element.0, $0.element.1) : pad($0.element.0, $0.element.1) }.joined())
        }
    }

    /// Runs one case: warm-up, then C and ThreadKill blocks alternately.
    private func measure(
        _ latencyCase: LatencyCase, floorSignal: Int32, fd: Int32, progress: LatencyProgress
    ) throws -> ([UInt64]?, [UInt64]) {
        var cSamples: [UInt64]? = latencyCase.c == nil ? nil : []
        var swiftSamples: [UInt64] = []
        swiftSamples.reserveCapacity(trials)
        if let floor = latencyCase.c {
            var none: [UInt64] = []
            try none.withUnsafeMutableBufferPointer { try floor(floorSignal, $0, warmup) }
            progress.advance(latencyCase, by: warmup)
        }
        for _ in 0..<warmup { _ = try latencyCase.swift(fd) }
        progress.advance(latencyCase, by: warmup)
        var done = 0
        while done < trials {
            let count = min(Self.block, trials - done)
            if let floor = latencyCase.c {
                var buffer = [UInt64](repeating: 0, count: count)
                try buffer.withUnsafeMutableBufferPointer { try floor(floorSignal, $0, 0) }
                cSamples?.append(contentsOf: buffer)
                progress.advance(latencyCase, by: count)
            }
            for _ in 0..<count { swiftSamples.append(try latencyCase.swift(fd)) }
            progress.advance(latencyCase, by: count)
            done += count
        }
        return (cSamples, swiftSamples)
    }

    private static func uname() -> String {
        var name = utsname()
        guard Glibc.uname(&name) == 0 else { return "uname failed" }
        func text<T>(_ field: T) -> String {
            withUnsafeBytes(of: field) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        return "\(text(name.sysname)) \(text(name.release)) \(text(name.machine))"
    }

    private static func printCase(_ latencyCase: LatencyCase, _ c: LatencyStats?, _ swift: LatencyStats) {
        print("\(latencyCase.label)")
        print("  C:          \(latencyCase.floor)")
        print("  ThreadKill: \(latencyCase.threadKill)")
        print("  \(padRight("", 12))\(pad("p50", 11))\(pad("p90", 11))\(pad("p99", 11))")
        if let c {
            print("  \(padRight("C", 12))\(pad(micros(c.p50), 11))\(pad(micros(c.p90), 11))\(pad(micros(c.p99), 11))")
        }
        print("  \(padRight("ThreadKill", 12))\(pad(micros(swift.p50), 11))\(pad(micros(swift.p90), 11))\(pad(micros(swift.p99), 11))")
        if let c {
            print("  \(padRight("ratio TK/C", 12))\(pad(ratio(swift.p50, c.p50), 11))\(pad("", 11))\(pad(ratio(swift.p99, c.p99), 11))")
        }
        print("")
    }

    private static func printSummary(_ results: [(LatencyCase, LatencyStats?, LatencyStats)]) {
        print("summary (ratio = ThreadKill / C, same run):")
        let widths = [20, 11, 11, 9, 11, 11, 9]
        let header = ["case", "C p50", "TK p50", "p50 ×", "C p99", "TK p99", "p99 ×"]
        print("  " + zip(header, widths).enumerated().map { $0.offset == 0 ? padRight($0.element.0, $0.element.1) : pad($0.element.0, $0.element.1) }.joined())
        for (latencyCase, c, swift) in results {
            let cells = [
                latencyCase.label,
                c.map { micros($0.p50) } ?? "—", micros(swift.p50), c.map { ratio(swift.p50, $0.p50) } ?? "—",
                c.map { micros($0.p99) } ?? "—", micros(swift.p99), c.map { ratio(swift.p99, $0.p99) } ?? "—",
            ]
            print("  " + zip(cells, widths).enumerated().map { $0.offset == 0 ? padRight($0.element.0, $0.element.1) : pad($0.element.0, $0.element.1) }.joined())
        }
    }
}
