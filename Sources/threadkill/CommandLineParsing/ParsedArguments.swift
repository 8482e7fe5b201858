/// A command's arguments scanned against its ``CommandSpec``: the value of
/// each option given, the positional argument, and whether help was asked for.
///
/// Scanning accepts `--name value` and `--name=value`; the word after an
/// option is its value even if it starts with a dash, so `--seconds -1` is
/// reported as a negative duration rather than a missing value. `--` ends
/// the options. `-h`, `--help` or `--help-hidden` anywhere before `--` asks
/// for help, whatever else is on the line. An option given twice keeps its
/// last value.
struct ParsedArguments {
    /// Which help text was asked for.
    enum HelpRequest: Equatable {
        /// `-h` or `--help`: the options a user needs.
        case visible
        /// `--help-hidden`: also the options that exist for the tests.
        case includingHidden
    }

    /// The command these arguments belong to.
    let command: CommandSpec
    /// The help asked for, if any; then nothing else was scanned.
    let help: HelpRequest?
    /// The words that are not options, in order (at most one: the spec's positional).
    let positionals: [String]
    private let values: [String: String]

    /// Scans `arguments` (the words after the command's name).
    ///
    /// - Throws: ``UsageError`` for an unknown option, an option without a
    ///   value, or more positional words than the command takes.
    init(scanning arguments: [String], for command: CommandSpec) throws(UsageError) {
        self.command = command
        let optionWords = arguments.prefix { $0 != "--" }
        if optionWords.contains("--help-hidden") {
            help = .includingHidden
        } else if optionWords.contains("--help") || optionWords.contains("-h") {
            help = .visible
        } else {
            help = nil
        }
        guard help == nil else {
            positionals = []
            values = [:]
            return
        }

        var values: [String: String] = [:]
        var positionals: [String] = []
        var index = arguments.startIndex
        var optionsEnded = false
        while index < arguments.endIndex {
            let word = arguments[index]
            index += 1
            if optionsEnded || word == "-" || !word.hasPrefix("-") {
                positionals.append(word)
                continue
            }
            if word == "--" {
                optionsEnded = true
                continue
            }
            let body = word.hasPrefix("--") ? word.dropFirst(2) : word.dropFirst()
            let name = String(body.prefix { $0 != "=" })
            guard word.hasPrefix("--"), let option = command.option(named: name) else {
                throw UsageError("unknown option '\(word.prefix { $0 != "=" })'; \(Self.optionSummary(of: command))", in: command)
            }
            if let equals = body.firstIndex(of: "=") {
                values[name] = String(body[body.index(after: equals)...])
            } else if index < arguments.endIndex {
                values[name] = arguments[index]
                index += 1
            } else {
                throw UsageError("\(option.flag) needs a value: \(option.label)", in: command)
            }
        }
        let allowed = command.positional == nil ? 0 : 1
        if positionals.count > allowed {
            throw UsageError("unexpected argument '\(positionals[allowed])'", in: command)
        }
        self.values = values
        self.positionals = positionals
    }

    /// The value of `option`, converted and checked; nil if it was not given.
    ///
    /// - Throws: ``UsageError`` if the text is not a `Value` ("--threads takes
    ///   a whole number, not 'x'") or does not meet `requirement`
    ///   ("--threads must be between 1 and 256, not '0'").
    func value<Value: ArgumentValue>(
        of option: OptionSpec, _ requirement: ValueRequirement<Value> = .any
    ) throws(UsageError) -> Value? {
        precondition(command.option(named: option.name) == option, "\(option.flag) is not declared by \(command.path)")
        guard let text = values[option.name] else { return nil }
        guard let value = Value(argument: text) else {
            throw UsageError("\(option.flag) takes \(Value.expectation), not '\(text)'", in: command)
        }
        if let violation = requirement.violation(value) {
            throw UsageError("\(option.flag) must \(violation), not '\(text)'", in: command)
        }
        return value
    }

    /// The value of `option`, converted and checked, or `defaultValue` if it was not given.
    func value<Value: ArgumentValue>(
        of option: OptionSpec, default defaultValue: Value, _ requirement: ValueRequirement<Value> = .any
    ) throws(UsageError) -> Value {
        try value(of: option, requirement) ?? defaultValue
    }

    /// The positional argument: one of the spec's choices.
    ///
    /// - Throws: ``UsageError`` if it is missing or not one of the choices;
    ///   the message lists the valid values.
    func choice() throws(UsageError) -> String {
        guard let positional = command.positional else {
            preconditionFailure("\(command.path) declares no positional argument")
        }
        guard let word = positionals.first else {
            throw UsageError("missing \(positional.valueName) name; choose one of \(positional.valueList)", in: command)
        }
        guard positional.choices.contains(where: { $0.value == word }) else {
            throw UsageError("unknown \(positional.valueName) '\(word)'; choose one of \(positional.valueList)", in: command)
        }
        return word
    }

    /// A usage error in this command, for checks the command makes itself.
    func error(_ message: String) -> UsageError {
        UsageError(message, in: command)
    }

    /// "threadkill stress takes --seconds, --threads, --seed, --methods".
    private static func optionSummary(of command: CommandSpec) -> String {
        let visible = command.options.filter { !$0.isHidden }.map(\.flag)
        return visible.isEmpty
            ? "\(command.path) takes no options but --help"
            : "\(command.path) takes \(visible.joined(separator: ", ")) and --help"
    }
}
