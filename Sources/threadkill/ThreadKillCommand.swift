/// `threadkill`: the top-level command, which dispatches to a subcommand.
@main
enum ThreadKillCommand {
    /// Every subcommand, in the order `--help` lists them.
    static let subcommands: [any Subcommand.Type] = [DemoCommand.self, StressCommand.self, LatencyCommand.self]

    static let spec = CommandSpec(
        path: "threadkill",
        abstract: "Stop threads politely, firmly, or by force — the six Python methods, in Swift.",
        subcommands: subcommands.map { $0.spec },
        version: Version.line
    )

    /// Parses a command line: the words after the program's name.
    ///
    /// Nothing is printed and nothing runs; the caller acts on the result.
    ///
    /// - Throws: ``UsageError`` for a command line that asks for nothing
    ///   `threadkill` can do.
    static func parse(_ arguments: [String]) throws(UsageError) -> Invocation {
        guard let first = arguments.first else { return .help(HelpText(spec).text) }
        switch first {
        case "-h", "--help", "--help-hidden":
            return .help(HelpText(spec).text)
        case "--version":
            return .version(Version.line)
        case "help":
            guard arguments.count > 1 else { return .help(HelpText(spec).text) }
            return .help(HelpText(try subcommand(named: arguments[1]).spec).text)
        default:
            if first.hasPrefix("-") {
                throw UsageError("unknown option '\(first)'; before a subcommand threadkill takes only --help and --version", in: spec)
            }
            let subcommand = try subcommand(named: first)
            let arguments = try ParsedArguments(scanning: Array(arguments.dropFirst()), for: subcommand.spec)
            if let help = arguments.help {
                return .help(HelpText(subcommand.spec, includingHidden: help == .includingHidden).text)
            }
            return .run(try subcommand.init(arguments))
        }
    }

    private static func subcommand(named name: String) throws(UsageError) -> any Subcommand.Type {
        guard let subcommand = subcommands.first(where: { $0.spec.name == name }) else {
            let names = subcommands.map { $0.spec.name }.joined(separator: ", ")
            throw UsageError("unknown subcommand '\(name)'; choose one of \(names)", in: spec)
        }
        return subcommand
    }
}
