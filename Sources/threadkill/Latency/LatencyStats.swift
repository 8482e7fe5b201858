/// Percentiles of a set of samples (nanoseconds), by nearest rank.
struct LatencyStats {
    let sorted: [UInt64]

    init(_ samples: [UInt64]) { sorted = samples.sorted() }

    /// The `p`-th percentile (0...100), in microseconds.
    func percentile(_ p: Double) -> Double {
        guard !sorted.isEmpty else { return .nan }
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
        return Double(sorted[min(max(rank, 1), sorted.count) - 1]) / 1000
    }

    var p50: Double { percentile(50) }
    var p90: Double { percentile(90) }
    var p99: Double { percentile(99) }
}

/// Formats a non-negative `value` with exactly `digits` decimals.
func fixed(_ value: Double, _ digits: Int) -> String {
    var scale = 1
    for _ in 0..<digits { scale *= 10 }
    let scaled = Int((value * Double(scale)).rounded())
    guard digits > 0 else { return "\(scaled)" }
    let fraction = String(scaled % scale)
    return "\(scaled / scale).\(String(repeating: "0", count: digits - fraction.count))\(fraction)"
}

/// Formats microseconds: one decimal below 1 ms, whole microseconds above.
func micros(_ value: Double) -> String {
    if value.isNaN { return "—" }
    return value >= 1000 ? "\(fixed(value, 0)) µs" : "\(fixed(value, 1)) µs"
}

/// Formats a ratio as "1.23×".
func ratio(_ numerator: Double, _ denominator: Double) -> String {
    guard denominator > 0, !numerator.isNaN, !denominator.isNaN else { return "—" }
    return "\(fixed(numerator / denominator, 2))×"
}

/// Pads `text` on the left (right-aligns) to `width` characters.
func pad(_ text: String, _ width: Int) -> String {
    String(repeating: " ", count: max(0, width - text.count)) + text
}

/// Pads `text` on the right (left-aligns) to `width` characters.
func padRight(_ text: String, _ width: Int) -> String {
    text + String(repeating: " ", count: max(0, width - text.count))
}
