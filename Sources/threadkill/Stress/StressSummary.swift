import ThreadKillStress

/// The text printed at the end of a stress run; its last line is `N passed, N failed`.
struct StressSummary {
    let report: StressReport
    /// Each method's kill latencies, in microseconds.
    let latencies: [StressMethod: Percentiles<UInt32>]

    var lines: [String] {
        var lines: [String] = []
        lines.append("threadkill stress: \(fixed(report.elapsed.seconds, 1)) s, \(report.threads) threads, seed \(report.seed), methods \(report.methods.map(\.rawValue).joined(separator: ","))")
        lines.append("")
        lines += outcomeTable
        lines.append("")
        lines += latencyTable
        lines.append("")
        let declines = report.injectionDeclines.sorted { $0.value > $1.value }.map { "\($0.key.rawValue): \($0.value)" }
        let totalDeclines = report.injectionDeclines.values.reduce(0, +)
        lines.append("injection: \(report.injectionJumps) jumps (\(report.injectionJumpsOnReturn) at a hijacked return), \(totalDeclines) declines" + (declines.isEmpty ? "" : " (" + declines.joined(separator: ", ") + ")"))
        let growth = report.residentAfter - report.residentBefore
        lines.append("resident memory: \(mebibytes(report.residentBefore)) -> \(mebibytes(report.residentAfter)) (\(growth >= 0 ? "+" : "")\(growth >> 10) KiB, \(Int(report.residentGrowthPerKill.rounded())) B per kill)")
        lines.append("throughput: \(fixed(report.killsPerSecond, 1)) kills/s (\(report.kills) kills)")
        if !report.undocumented.isEmpty {
            lines.append("")
            lines.append("undocumented outcomes (first \(report.undocumented.count)):")
            lines += report.undocumented.map { "  \($0)" }
        }
        lines.append("")
        lines.append("invariants:")
        lines += report.invariants.map { "  \($0)" }
        lines.append(report.verdict)
        return lines
    }

    private var outcomeTable: [String] {
        let outcomes = KillOutcome.allCases.filter { outcome in report.counts.values.contains { ($0[outcome] ?? 0) > 0 } }
        var rows = [["method", "kills"] + outcomes.map(\.rawValue)]
        for method in report.methods {
            let counts = report.counts[method] ?? [:]
            rows.append([method.rawValue, "\(counts.values.reduce(0, +))"] + outcomes.map { "\(counts[$0] ?? 0)" })
        }
        rows.append(["total", "\(report.kills)"] + outcomes.map { outcome in "\(report.counts.values.reduce(0) { $0 + ($1[outcome] ?? 0) })" })
        return ["kills by method and outcome:"] + table(rows)
    }

    private var latencyTable: [String] {
        var rows = [["method", "n", "p50", "p90", "p99", "max"]]
        for method in report.methods {
            guard let p = latencies[method], let maximum = p.maximum else {
                rows.append([method.rawValue, "0", "-", "-", "-", "-"])
                continue
            }
            rows.append([method.rawValue, "\(p.count)"] + [50.0, 90.0, 99.0].map { micros(p.value(at: $0) ?? 0) } + [micros(maximum)])
        }
        return ["latency from kill request to end of thread or process (kills that took effect):"] + table(rows)
    }

    private func table(_ rows: [[String]]) -> [String] {
        let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            "  " + row.enumerated().map { column, cell in
                let pad = String(repeating: " ", count: widths[column] - cell.count)
                return column == 0 ? cell + pad : pad + cell
            }.joined(separator: "  ")
        }
    }

    private func micros(_ value: UInt32) -> String { Duration.microseconds(value).compactDescription }

    private func mebibytes(_ bytes: Int) -> String { "\(fixed(Double(bytes) / 1_048_576, 1)) MiB" }
}
