/// What the parser and `--help` know of a command: its name, its words, its
/// options, its positional argument and its subcommands.
///
/// Help text and error messages are generated from this one description, so
/// they cannot drift from what the parser accepts.
struct CommandSpec: Sendable {
    /// The words that run it: `threadkill stress`.
    let path: String
    /// One sentence: the first line of `--help` and the command's row in its parent's list.
    let abstract: String
    /// Paragraphs after the abstract in `--help`; empty for none.
    let discussion: String
    /// Every `--name <value>` option, visible ones in help order.
    let options: [OptionSpec]
    /// The positional argument, if the command takes one.
    let positional: PositionalSpec?
    /// The subcommands, for a command that only dispatches (`threadkill` itself).
    let subcommands: [CommandSpec]
    /// The version string `--version` prints, for the top-level command only.
    let version: String?

    init(
        path: String, abstract: String, discussion: String = "", options: [OptionSpec] = [],
        positional: PositionalSpec? = nil, subcommands: [CommandSpec] = [], version: String? = nil
    ) {
        self.path = path
        self.abstract = abstract
        self.discussion = discussion
        self.options = options
        self.positional = positional
        self.subcommands = subcommands
        self.version = version
    }

    /// The last word of ``path``: `stress`.
    var name: String { String(path.split(separator: " ").last ?? Substring(path)) }

    /// The option called `--name`, hidden or not.
    func option(named name: String) -> OptionSpec? {
        options.first { $0.name == name }
    }

    /// The usage line: `threadkill stress [--seconds <seconds>] …`.
    func usage(includingHidden: Bool) -> String {
        var words = [path]
        if !subcommands.isEmpty { words.append("<subcommand>") }
        words += options.filter { includingHidden || !$0.isHidden }.map { "[\($0.label)]" }
        if let positional { words.append("<\(positional.valueName)>") }
        return words.joined(separator: " ")
    }
}
