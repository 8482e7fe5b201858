/// The one positional argument a command takes, chosen from a closed set.
///
/// `threadkill demo <demo>` takes a demo name; `--help` lists every value
/// with its summary, and any other value is a usage error that names them.
struct PositionalSpec: Sendable {
    /// One accepted value and what it means.
    struct Choice: Sendable, Equatable {
        let value: String
        let summary: String
    }

    /// The placeholder in help and usage: `demo` for `<demo>`.
    let valueName: String
    /// The heading of the list of values in `--help`, such as `DEMOS`.
    let heading: String
    /// Every accepted value, in the order help lists them.
    let choices: [Choice]

    /// The accepted values, for an error message: "exception, flag, …, all".
    var valueList: String { choices.map(\.value).joined(separator: ", ") }
}
