/// A command line `threadkill` cannot run: an unknown subcommand or option,
/// a missing or malformed value. Reported on standard error with the
/// command's usage line; the process exits with ``ExitStatus/usage`` (64).
struct UsageError: Error, Equatable, CustomStringConvertible {
    /// What is wrong, in the user's terms: "--threads must be between 1 and 256, not '0'".
    let message: String
    /// The command the error belongs to, such as `threadkill stress`.
    let commandPath: String
    /// That command's usage line, without the leading "USAGE: ".
    let usage: String

    /// An error in `command`'s arguments.
    init(_ message: String, in command: CommandSpec) {
        self.message = message
        self.commandPath = command.path
        self.usage = command.usage(includingHidden: false)
    }

    /// The three lines printed on standard error.
    var description: String {
        "Error: \(message)\nUsage: \(usage)\n  See '\(commandPath) --help' for more information."
    }
}
