/// The text `--help` prints for a command, generated from its ``CommandSpec``:
/// overview, discussion, usage, the positional argument's values, the
/// subcommands and the options, each list aligned in two columns.
struct HelpText {
    /// The terminal width the text is wrapped to.
    static let width = 80
    /// The widest first column; a longer label puts its help on the next line.
    static let maximumLabelWidth = 24

    let command: CommandSpec
    /// Whether options marked hidden are listed (`--help-hidden`).
    let includingHidden: Bool

    init(_ command: CommandSpec, includingHidden: Bool = false) {
        self.command = command
        self.includingHidden = includingHidden
    }

    /// The whole help, ending with a newline.
    var text: String {
        var sections: [[String]] = [wrapText(command.abstract, width: Self.width, firstPrefix: "OVERVIEW: ")]
        for paragraph in command.discussion.split(separator: "\n\n") where !paragraph.isEmpty {
            sections.append(wrapText(String(paragraph), width: Self.width))
        }
        let usageWords = command.usage(includingHidden: includingHidden).split(separator: " ").map(String.init)
        sections.append(wrapWords(Self.keepingBracketsTogether(usageWords), width: Self.width,
                                  firstPrefix: "USAGE: ", indent: String(repeating: " ", count: 7)))
        if let positional = command.positional {
            sections.append(["\(positional.heading):"] + Self.columns(positional.choices.map { ($0.value, $0.summary) }))
        }
        if !command.subcommands.isEmpty {
            sections.append(["SUBCOMMANDS:"] + Self.columns(command.subcommands.map { ($0.name, $0.abstract) }))
        }
        var options = command.options.filter { includingHidden || !$0.isHidden }.map { option in
            (option.label, option.help + (option.defaultValue.map { " (default: \($0))" } ?? ""))
        }
        options.append(("-h, --help", "Show this help."))
        if let version = command.version {
            options.append(("--version", "Print the version (\(version)) and exit."))
        }
        sections.append(["OPTIONS:"] + Self.columns(options))
        if !command.subcommands.isEmpty {
            sections.append(["See '\(command.path) <subcommand> --help' for what each subcommand takes."])
        }
        return sections.map { $0.joined(separator: "\n") }.joined(separator: "\n\n") + "\n"
    }

    /// Rows of a label and its help: the labels padded to one width, the
    /// help wrapped beside them.
    static func columns(_ rows: [(label: String, help: String)]) -> [String] {
        let labelWidth = min(maximumLabelWidth, rows.map(\.label.count).max() ?? 0)
        let helpIndent = String(repeating: " ", count: 2 + labelWidth + 2)
        var lines: [String] = []
        for (label, help) in rows {
            if label.count > labelWidth {
                lines.append("  \(label)")
                lines += wrapText(help, width: width, firstPrefix: helpIndent, indent: helpIndent)
            } else {
                let padded = "  " + label + String(repeating: " ", count: labelWidth - label.count + 2)
                lines += wrapText(help, width: width, firstPrefix: padded, indent: helpIndent)
            }
        }
        return lines
    }

    /// Joins `[--seconds` and `<seconds>]` back into one word, so that a
    /// usage line never breaks inside an option.
    private static func keepingBracketsTogether(_ words: [String]) -> [String] {
        var joined: [String] = []
        var open = false
        for word in words {
            if open, let last = joined.popLast() {
                joined.append(last + " " + word)
            } else {
                joined.append(word)
            }
            open = joined.last.map { $0.filter { $0 == "[" }.count > $0.filter { $0 == "]" }.count } ?? false
        }
        return joined
    }
}
