/// The p50, p90 and p99 of one side of a latency case, in microseconds.
struct LatencyStats {
    /// The samples, in nanoseconds.
    let percentiles: Percentiles<UInt64>

    /// The statistics of `samples`, in nanoseconds.
    init(_ samples: [UInt64]) { percentiles = Percentiles(samples) }

    /// The `p`-th percentile (0...100) by nearest rank, in microseconds; NaN if there are no samples.
    func percentile(_ p: Double) -> Double {
        percentiles.value(at: p).map { Double($0) / 1000 } ?? .nan
    }

    var p50: Double { percentile(50) }
    var p90: Double { percentile(90) }
    var p99: Double { percentile(99) }
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
