// How durations read in the library's reports and in this package's own
// tools (the `threadkill` CLI, the stress engine): one formatter for all of
// them. `package` access: visible to the targets of this package, not API of
// the ThreadKill module (Docs/PublicAPI.md).

extension Duration {
    /// "41 µs", "2.5 ms", "1.2 s": for reports and tool output.
    package var compactDescription: String {
        let ns = seconds * 1e9
        func rounded(_ x: Double) -> String { x >= 100 ? String(Int(x.rounded())) : String(Double(Int(x * 10)) / 10) }
        if ns < 1_000 { return "\(Int(ns)) ns" }
        if ns < 1_000_000 { return rounded(ns / 1_000) + " µs" }
        if ns < 1_000_000_000 { return rounded(ns / 1_000_000) + " ms" }
        return rounded(ns / 1_000_000_000) + " s"
    }

    /// The duration in seconds, as a `Double`.
    package var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
