/// A type that an option's text converts to.
protocol ArgumentValue: Sendable {
    /// What the option takes, for an error message: "a number", "a whole number".
    static var expectation: String { get }

    /// The value `argument` spells, or nil if it spells none.
    init?(argument: String)
}

extension Int: ArgumentValue {
    static var expectation: String { "a whole number" }
    init?(argument: String) { self.init(argument) }
}

extension UInt64: ArgumentValue {
    static var expectation: String { "a whole number from 0 to \(UInt64.max)" }
    init?(argument: String) { self.init(argument) }
}

extension Double: ArgumentValue {
    static var expectation: String { "a number" }

    /// A finite decimal number: `5`, `0.5`, `1e3`; not `inf` or `nan`.
    init?(argument: String) {
        guard let value = Double(argument), value.isFinite else { return nil }
        self = value
    }
}

extension String: ArgumentValue {
    static var expectation: String { "some text" }
    init?(argument: String) { self = argument }
}
