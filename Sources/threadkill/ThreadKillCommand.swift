import ArgumentParser

@main
struct ThreadKillCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "threadkill",
        abstract: "Stop threads politely, firmly, or by force — the six Python methods, in Swift.",
        subcommands: [DemoCommand.self, StressCommand.self, LatencyCommand.self]
    )
}
