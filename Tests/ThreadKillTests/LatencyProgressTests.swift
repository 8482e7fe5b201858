import Testing

/// The progress bar of `threadkill latency` (LatencyProgress, ProgressDisplay):
/// drawn in place on a terminal, absent from a pipe. Runs the built CLI on
/// the cheapest case, (a), with one trial per side and no batch case.
@Suite("Latency progress bar")
struct LatencyProgressTests {
    static let arguments = ["latency", "--only", "(a)", "--trials", "1", "--warmup", "0", "--runs", "0"]

    /// One drawing of the bar: a carriage return, 30 cells, the case and the trials done.
    static var bar: Regex<(Substring, Substring, Substring, Substring)> { /\r\[([#-]{30})\] \(a\) stop flag: (\d+)\/(\d+) trials\x{1B}\[K/ }

    @Test("on a terminal the bar is redrawn in place with the trials done, ends full, and is erased before the results", .timeLimit(.hang))
    func drawnOnTerminal() throws {
        let (status, output, error) = try runThreadkill(Self.arguments, onTerminal: true)
        #expect(status == 0, "stderr: \(error)")
        let draws = output.matches(of: Self.bar)
        // Warm-up C, warm-up ThreadKill (0 trials each), then one block per side: 0, 0, 1, 2 of 2.
        #expect(draws.map { "\($0.output.2)/\($0.output.3)" } == ["0/2", "0/2", "1/2", "2/2"], "output: \(output.debugDescription)")
        #expect(draws.last.map { String($0.output.1) } == String(repeating: "#", count: 30))
        // The bar's line is cleared, and the case's results take it.
        #expect(output.contains("trials\u{1B}[K\r\u{1B}[K(a) stop flag"), "output: \(output.debugDescription)")
    }

    @Test("with standard output a pipe no bar is drawn: no carriage return, no escape, no trial count", .timeLimit(.hang))
    func absentFromPipe() throws {
        let (status, output, error) = try runThreadkill(Self.arguments)
        #expect(status == 0, "stderr: \(error)")
        #expect(output.contains("(a) stop flag"), "output: \(output.debugDescription)")
        #expect(!output.contains("\r") && !output.contains("\u{1B}"), "output: \(output.debugDescription)")
        #expect(output.firstMatch(of: /\d+\/\d+ trials/) == nil, "output: \(output.debugDescription)")
    }
}
