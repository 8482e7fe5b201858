// Number formatting for the CLI's output, without Foundation. Durations use
// the library's package-level `compactDescription` and `seconds`.

/// `value` with exactly `digits` decimals ("1.50", "-0.5").
func fixed(_ value: Double, _ digits: Int) -> String {
    var scale = 1
    for _ in 0..<digits { scale *= 10 }
    let scaled = Int((abs(value) * Double(scale)).rounded())
    let sign = value < 0 && scaled != 0 ? "-" : ""
    guard digits > 0 else { return sign + "\(scaled)" }
    let fraction = String(scaled % scale)
    return sign + "\(scaled / scale).\(String(repeating: "0", count: digits - fraction.count))\(fraction)"
}
