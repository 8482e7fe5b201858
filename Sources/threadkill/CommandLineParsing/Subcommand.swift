/// A subcommand of `threadkill`: what it is called and takes, how it reads
/// its arguments, and what it does.
protocol Subcommand: Sendable {
    /// Its name, help text and options; the parser and `--help` both read it.
    static var spec: CommandSpec { get }

    /// Reads `arguments`, already scanned against ``spec``, and checks every value.
    ///
    /// - Throws: ``UsageError`` for a value that is malformed or out of range.
    init(_ arguments: ParsedArguments) throws(UsageError)

    /// Does the work.
    ///
    /// - Returns: The status the process exits with.
    /// - Throws: A failure of the program itself; the process exits with ``ExitStatus/failure``.
    func run() throws -> ExitStatus
}
