/// A runnable replay of one stop method.
protocol Demo: Sendable {
    /// The name on the command line.
    static var name: String { get }
    /// One line for `--help`.
    static var summary: String { get }
    static func run() throws
}

/// Every demo, in the order `demo all` runs them.
let allDemos: [any Demo.Type] = [
    ExceptionDemo.self,
    FlagDemo.self,
    TraceDemo.self,
    EventDemo.self,
    InterruptDemo.self,
    AsyncDemo.self,
    CancelDemo.self,
    TimeoutDemo.self,
    AwaitDemo.self,
    ProcessDemo.self,
    DaemonDemo.self,
]

/// `threadkill demo <demo>`: replays one stop method, or all of them.
struct DemoCommand: Subcommand {
    /// The value that runs every demo.
    static let everyDemo = "all"

    static let spec = CommandSpec(
        path: "threadkill demo",
        abstract: "Replay a stop method from the Python seed, in Swift.",
        discussion: """
            Each demo starts real threads (or processes), stops them one way and prints what \
            happened and how long the stop took.
            """,
        positional: PositionalSpec(
            valueName: "demo",
            heading: "DEMOS",
            choices: allDemos.map { PositionalSpec.Choice(value: $0.name, summary: $0.summary) }
                + [PositionalSpec.Choice(value: everyDemo, summary: "every demo above, in order")]
        )
    )

    /// The demos to run, in order.
    let demos: [any Demo.Type]

    init(_ arguments: ParsedArguments) throws(UsageError) {
        let name = try arguments.choice()
        demos = allDemos.filter { name == Self.everyDemo || $0.name == name }
    }

    func run() throws -> ExitStatus {
        for demo in demos {
            print("== demo \(demo.name): \(demo.summary)")
            try demo.run()
            print()
        }
        return .success
    }
}
