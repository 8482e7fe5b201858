/// One `--name <value>` option that a command accepts.
///
/// A command declares its options as static constants and reads them back
/// by the same constants (``ParsedArguments/value(of:_:)``), so a name is
/// spelled once.
struct OptionSpec: Sendable, Equatable {
    /// The name without dashes: `seconds` for `--seconds`.
    let name: String
    /// The placeholder in help and usage: `seconds` for `<seconds>`.
    let valueName: String
    /// One sentence for `--help`.
    let help: String
    /// The value used when the option is absent, as shown in `--help`; nil if there is none.
    let defaultValue: String?
    /// Left out of `--help` and the usage line (shown by `--help-hidden`):
    /// for options that exist for the tests.
    let isHidden: Bool

    init(_ name: String, valueName: String? = nil, help: String, defaultValue: String? = nil, isHidden: Bool = false) {
        self.name = name
        self.valueName = valueName ?? name
        self.help = help
        self.defaultValue = defaultValue
        self.isHidden = isHidden
    }

    /// `--seconds`.
    var flag: String { "--\(name)" }

    /// `--seconds <seconds>`, as help and usage show it.
    var label: String { "\(flag) <\(valueName)>" }
}
