/// A condition that an option's value must meet, with the words that say so
/// when it does not: "--threads must be between 1 and 256, not '0'".
struct ValueRequirement<Value: Sendable>: Sendable {
    /// What is wrong with a value, completing "--name must …" ("be positive"); nil if nothing is.
    let violation: @Sendable (Value) -> String?

    /// Any value of the type.
    static var any: ValueRequirement { ValueRequirement { _ in nil } }

    /// This requirement, then `other`: the first violation found is the one reported.
    func and(_ other: ValueRequirement) -> ValueRequirement {
        ValueRequirement { value in violation(value) ?? other.violation(value) }
    }
}

extension ValueRequirement where Value: Comparable & ExpressibleByIntegerLiteral {
    /// More than zero.
    static var positive: ValueRequirement { ValueRequirement { $0 > 0 ? nil : "be positive" } }

    /// Zero or more.
    static var nonNegative: ValueRequirement { ValueRequirement { $0 >= 0 ? nil : "not be negative" } }

    /// Within `range`.
    static func between(_ range: ClosedRange<Value>) -> ValueRequirement {
        ValueRequirement { range.contains($0) ? nil : "be between \(spelled(range.lowerBound)) and \(spelled(range.upperBound))" }
    }

    /// At most `limit`.
    static func atMost(_ limit: Value) -> ValueRequirement {
        ValueRequirement { $0 <= limit ? nil : "be at most \(spelled(limit))" }
    }

    /// `limit` as a user would write it: `1000000000`, not `1000000000.0`.
    private static func spelled(_ limit: Value) -> String {
        let text = "\(limit)"
        return text.hasSuffix(".0") ? String(text.dropLast(2)) : text
    }
}
