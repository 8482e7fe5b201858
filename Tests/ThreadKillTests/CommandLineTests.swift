import Testing
import ThreadKillStress
@testable import threadkill

/// Parses `arguments` and returns the subcommand it would run, of type `T`.
private func command<T: Subcommand>(_ arguments: [String], as type: T.Type) throws -> T {
    let invocation = try ThreadKillCommand.parse(arguments)
    guard case .run(let command) = invocation else {
        Issue.record("\(arguments) did not parse to a command: \(invocation)")
        throw UsageError("not a command", in: ThreadKillCommand.spec)
    }
    return try #require(command as? T, "\(arguments) parsed to \(command)")
}

/// The help text `arguments` asks for; nil if they ask for something else.
private func help(_ arguments: [String]) throws -> String? {
    if case .help(let text) = try ThreadKillCommand.parse(arguments) { return text }
    return nil
}

/// The usage error `arguments` cause; nil if they parse.
private func usageError(_ arguments: [String]) -> UsageError? {
    do {
        _ = try ThreadKillCommand.parse(arguments)
        return nil
    } catch {
        return error
    }
}

@Suite("Command line")
struct CommandLineTests {
    // MARK: Valid commands

    @Test("demo takes a demo name or all; all runs every demo in order")
    func demoNames() throws {
        #expect(try command(["demo", "all"], as: DemoCommand.self).demos.map { $0.name } == allDemos.map { $0.name })
        for demo in allDemos {
            #expect(try command(["demo", demo.name], as: DemoCommand.self).demos.map { $0.name } == [demo.name])
        }
        #expect(try command(["demo", "--", "flag"], as: DemoCommand.self).demos.map { $0.name } == ["flag"])
    }

    @Test("stress without options runs the documented defaults")
    func stressDefaults() throws {
        let stress = try command(["stress"], as: StressCommand.self)
        #expect(stress.seconds == 10)
        #expect(stress.threads == 4)
        #expect(stress.seed == nil)
        #expect(stress.methods == StressMethod.allCases)
        #expect(stress.operations == nil)
        #expect(stress.injectFault == nil)
        #expect(stress.watchdogSeconds == 10)
    }

    @Test("stress reads every option, as --name value or --name=value")
    func stressOptions() throws {
        let stress = try command(["stress", "--seconds", "5", "--threads=16", "--seed", "18446744073709551615",
                                  "--methods", "raise, stop", "--operations", "3", "--inject-fault", "leak-descriptor",
                                  "--watchdog-seconds=2.5"], as: StressCommand.self)
        #expect(stress.seconds == 5)
        #expect(stress.threads == 16)
        #expect(stress.seed == .max)
        #expect(stress.methods == [.stop, .raise])
        #expect(stress.operations == 3)
        #expect(stress.injectFault == .leakDescriptor)
        #expect(stress.watchdogSeconds == 2.5)
        #expect(try command(["stress", "--seconds", "0.5", "--seconds", "2"], as: StressCommand.self).seconds == 2,
                "the last of a repeated option wins")
    }

    @Test("latency reads --trials and --warmup, with their defaults")
    func latencyOptions() throws {
        let defaults = try command(["latency"], as: LatencyCommand.self)
        #expect(defaults.trials == 2000 && defaults.warmup == 50)
        let short = try command(["latency", "--trials", "200", "--warmup=0"], as: LatencyCommand.self)
        #expect(short.trials == 200 && short.warmup == 0)
    }

    // MARK: Version and help

    @Test("--version prints the version defined in Version.swift")
    func version() throws {
        guard case .version(let line) = try ThreadKillCommand.parse(["--version"]) else {
            Issue.record("--version did not ask for the version")
            return
        }
        #expect(line == "threadkill \(Version.number)")
        let parts = Version.number.split(separator: ".")
        #expect(parts.count == 3 && parts.allSatisfy { Int($0) != nil }, "\(Version.number) is not MAJOR.MINOR.PATCH")
    }

    @Test("--help, -h, help and no arguments at all show the top-level help")
    func topLevelHelp() throws {
        let text = try #require(try help(["--help"]))
        for arguments in [["-h"], ["help"], []] {
            #expect(try help(arguments) == text, "\(arguments)")
        }
        #expect(text.hasPrefix("OVERVIEW: "))
        #expect(text.contains("USAGE: threadkill <subcommand>"))
        for subcommand in ThreadKillCommand.subcommands {
            #expect(text.contains("\n  \(subcommand.spec.name) "), "no row for \(subcommand.spec.name)")
        }
        #expect(text.contains("--version"))
        #expect(text.split(separator: "\n").allSatisfy { $0.count <= HelpText.width }, "\(text)")
    }

    @Test("each subcommand's --help lists its options; hidden ones only under --help-hidden")
    func subcommandHelp() throws {
        let stress = try #require(try help(["stress", "--help"]))
        #expect(try help(["help", "stress"]) == stress)
        #expect(try help(["stress", "--threads", "0", "-h"]) == stress, "help wins over a bad value")
        for option in ["--seconds <seconds>", "--threads <threads>", "--seed <seed>", "--methods <methods>"] {
            #expect(stress.contains("\n  \(option) "), "\(option) missing from\n\(stress)")
        }
        #expect(!stress.contains("--inject-fault"))
        let hidden = try #require(try help(["stress", "--help-hidden"]))
        for option in ["--operations", "--inject-fault", "--watchdog-seconds"] {
            #expect(hidden.contains("\n  \(option) <"), "\(option) missing from\n\(hidden)")
        }
        let latency = try #require(try help(["latency", "--help"]))
        #expect(latency.contains("--trials <trials>") && latency.contains("--warmup <warmup>") && latency.contains("(default: 2000)"))
        for text in [stress, hidden, latency] {
            #expect(text.split(separator: "\n").allSatisfy { $0.count <= HelpText.width }, "\(text)")
        }
    }

    @Test("demo --help lists every demo with its summary, in one aligned column")
    func demoHelp() throws {
        let text = try #require(try help(["demo", "--help"]))
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let names = allDemos.map { $0.name } + ["all"]
        var summaryColumns: Set<Int> = []
        for name in names {
            let row = try #require(lines.first { $0.hasPrefix("  \(name) ") }, "no row for \(name) in\n\(text)")
            let afterName = row.dropFirst(2 + name.count)
            let gap = afterName.prefix { $0 == " " }.count
            #expect(gap >= 2, "\(row)")
            summaryColumns.insert(2 + name.count + gap)
        }
        #expect(summaryColumns.count == 1, "summaries start at columns \(summaryColumns)\n\(text)")
        for demo in allDemos {
            let firstWords = demo.summary.split(separator: " ").prefix(3).joined(separator: " ")
            #expect(text.contains(firstWords), "\(demo.name)'s summary missing")
        }
    }

    // MARK: Usage errors

    @Test("an unknown subcommand or top-level option is a usage error naming the subcommands")
    func unknownSubcommand() {
        for arguments in [["frob"], ["help", "frob"]] {
            let error = usageError(arguments)
            #expect(error?.message == "unknown subcommand 'frob'; choose one of demo, stress, latency", "\(arguments)")
            #expect(error?.commandPath == "threadkill")
        }
        #expect(usageError(["--frob"])?.message.hasPrefix("unknown option '--frob'") == true)
    }

    @Test("an unknown or missing demo is a usage error listing every valid demo")
    func unknownDemo() {
        let valid = (allDemos.map { $0.name } + ["all"]).joined(separator: ", ")
        #expect(usageError(["demo", "nope"])?.message == "unknown demo 'nope'; choose one of \(valid)")
        #expect(usageError(["demo"])?.message == "missing demo name; choose one of \(valid)")
        #expect(usageError(["demo", "flag", "event"])?.message == "unexpected argument 'event'")
        #expect(usageError(["demo", "nope"])?.usage == "threadkill demo <demo>")
    }

    @Test("values that are not numbers are usage errors that say what was expected",
          arguments: [
            (["stress", "--seconds", "abc"], "--seconds takes a number, not 'abc'"),
            (["stress", "--seconds", "inf"], "--seconds takes a number, not 'inf'"),
            (["stress", "--seconds", "nan"], "--seconds takes a number, not 'nan'"),
            (["stress", "--threads", "x"], "--threads takes a whole number, not 'x'"),
            (["stress", "--threads", "2.5"], "--threads takes a whole number, not '2.5'"),
            (["stress", "--seed", "-1"], "--seed takes a whole number from 0 to 18446744073709551615, not '-1'"),
            (["latency", "--trials=ten"], "--trials takes a whole number, not 'ten'"),
            (["latency", "--warmup", ""], "--warmup takes a whole number, not ''"),
          ])
    func badNumbers(arguments: [String], message: String) {
        #expect(usageError(arguments)?.message == message)
    }

    @Test("negative, zero and out-of-range values are usage errors",
          arguments: [
            (["stress", "--seconds", "-1"], "--seconds must be positive, not '-1'"),
            (["stress", "--seconds", "0"], "--seconds must be positive, not '0'"),
            (["stress", "--seconds", "1e10"], "--seconds must be at most 1000000000, not '1e10'"),
            (["stress", "--threads", "0"], "--threads must be between 1 and 256, not '0'"),
            (["stress", "--threads", "-4"], "--threads must be between 1 and 256, not '-4'"),
            (["stress", "--threads", "257"], "--threads must be between 1 and 256, not '257'"),
            (["stress", "--operations", "0"], "--operations must be positive, not '0'"),
            (["stress", "--watchdog-seconds", "-2"], "--watchdog-seconds must be positive, not '-2'"),
            (["latency", "--trials", "0"], "--trials must be positive, not '0'"),
            (["latency", "--warmup", "-1"], "--warmup must not be negative, not '-1'"),
          ])
    func badRanges(arguments: [String], message: String) {
        #expect(usageError(arguments)?.message == message)
    }

    @Test("unknown methods and faults are usage errors that list the valid ones")
    func unknownNames() {
        let methods = StressMethod.allCases.map(\.rawValue).joined(separator: ", ")
        #expect(usageError(["stress", "--methods", "stop,frob"])?.message == "unknown method 'frob' in --methods; choose from \(methods)")
        #expect(usageError(["stress", "--methods", ","])?.message == "--methods needs at least one of \(methods)")
        let faults = StressFault.allCases.map(\.rawValue).joined(separator: ", ")
        #expect(usageError(["stress", "--inject-fault", "x"])?.message == "unknown fault 'x' for --inject-fault; choose one of \(faults)")
    }

    @Test("unknown options, missing values and stray words are usage errors")
    func malformedLines() {
        #expect(usageError(["stress", "--frob", "1"])?.message
                == "unknown option '--frob'; threadkill stress takes --seconds, --threads, --seed, --methods and --help")
        #expect(usageError(["stress", "-s", "1"])?.message.hasPrefix("unknown option '-s'") == true)
        #expect(usageError(["demo", "--seconds=1", "all"])?.message == "unknown option '--seconds'; threadkill demo takes no options but --help")
        #expect(usageError(["stress", "--seconds"])?.message == "--seconds needs a value: --seconds <seconds>")
        #expect(usageError(["latency", "100"])?.message == "unexpected argument '100'")
        #expect(usageError(["stress", "--threads", "0"])?.description == """
            Error: --threads must be between 1 and 256, not '0'
            Usage: threadkill stress [--seconds <seconds>] [--threads <threads>] [--seed <seed>] [--methods <methods>]
              See 'threadkill stress --help' for more information.
            """)
    }

    // MARK: The built program

    @Test("the program prints help and the version with status 0, and usage errors on stderr with status 64",
          .timeLimit(.hang))
    func exitStatuses() throws {
        let version = try runThreadkill(["--version"])
        #expect(version.status == 0 && version.output == "threadkill \(Version.number)\n" && version.error.isEmpty)
        let demoHelp = try runThreadkill(["demo", "--help"])
        #expect(demoHelp.status == 0 && demoHelp.output.contains("DEMOS:") && demoHelp.error.isEmpty)
        for arguments in [["demo", "nope"], ["frob"], ["stress", "--threads", "0"], ["latency", "--trials", "x"]] {
            let run = try runThreadkill(arguments)
            #expect(run.status == 64, "\(arguments): \(run)")
            #expect(run.output.isEmpty, "\(arguments): \(run)")
            #expect(run.error.hasPrefix("Error: ") && run.error.contains("--help' for more information."), "\(arguments): \(run)")
        }
    }
}
