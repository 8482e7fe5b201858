/// How `threadkill` ends: the status its process exits with.
struct ExitStatus: Equatable, Sendable, CustomStringConvertible {
    /// The number passed to `exit(3)`.
    let rawValue: Int32

    /// Everything went as asked.
    static let success = ExitStatus(rawValue: 0)
    /// The command ran and failed (a stress invariant, a runtime error).
    static let failure = ExitStatus(rawValue: 1)
    /// The command line was wrong: `EX_USAGE` from sysexits.h.
    static let usage = ExitStatus(rawValue: 64)

    var description: String { "exit status \(rawValue)" }
}
