/// What a command line asks `threadkill` to do, once parsed.
enum Invocation {
    /// Print this help text (`--help`, `help <subcommand>`, or no arguments at all).
    case help(String)
    /// Print this version line (`--version`).
    case version(String)
    /// Run this subcommand, its arguments read and checked.
    case run(any Subcommand)
}
