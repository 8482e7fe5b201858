import ArgumentParser

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

/// The names `demo` accepts.
let demoNames: [String] = allDemos.map { demo in demo.name } + ["all"]

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Replay a stop method from the Python seed, in Swift.",
        discussion: (allDemos.map { "  \($0.name.padding(12))\($0.summary)" } + ["  \("all".padding(12))every demo above, in order"])
            .joined(separator: "\n")
    )

    @Argument(help: "Which demo: \(demoNames.joined(separator: ", ")).")
    var which: String

    func validate() throws {
        guard which == "all" || allDemos.contains(where: { $0.name == which }) else {
            throw ValidationError("unknown demo '\(which)'; choose one of \(demoNames.joined(separator: ", "))")
        }
    }

    func run() throws {
        for demo in allDemos where which == "all" || demo.name == which {
            print("== demo \(demo.name): \(demo.summary)")
            try demo.run()
            print()
        }
    }
}

extension String {
    func padding(_ width: Int) -> String {
        count >= width ? self + " " : self + String(repeating: " ", count: width - count)
    }
}
