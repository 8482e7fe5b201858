#if canImport(Glibc)
import Glibc
#endif
import ThreadKill

/// The main thread waits like the seed's `time.sleep(...)`: this is the demo's
/// script, not synchronization.
func pause(_ duration: Duration) {
    let (seconds, attos) = duration.components
    var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attos / 1_000_000_000))
    var remaining = timespec()
    while nanosleep(&request, &remaining) == -1 && errno == EINTR { request = remaining }
}

/// Measures from now until `body` returns.
func measure(_ body: () throws -> Void) rethrows -> Duration {
    let clock = ContinuousClock()
    return try clock.measure(body)
}

/// Spins the CPU for about `duration` without any delivery point.
@inline(never)
func burn(_ duration: Duration) -> UInt64 {
    let end = ContinuousClock.now + duration
    var x: UInt64 = 0x9E37_79B9_7F4A_7C15
    while ContinuousClock.now < end {
        for _ in 0..<1_000 { x = x &* 6364136223846793005 &+ 1442695040888963407 }
    }
    return x
}

/// The CLI's `print`: written straight to standard output, so lines from this
/// process and from its child processes (demo process, demo daemon) appear in
/// the order they happen even when stdout is a pipe.
func print(_ items: Any..., separator: String = " ", terminator: String = "\n") {
    let text = items.map { "\($0)" }.joined(separator: separator) + terminator
    let bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let n = bytes[offset...].withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
        if n <= 0 { if errno == EINTR { continue } else { return } }
        offset += n
    }
}

/// A demo could not set itself up.
struct DemoFailure: Error, CustomStringConvertible {
    let description: String
}

/// Runs `body` with the read end of a pipe that nobody will ever write to:
/// something for a demo thread to block on.
func withSilentPipe<R>(_ body: (Int32) throws -> R) throws -> R {
    var fds: [Int32] = [0, 0]
    guard pipe(&fds) == 0 else { throw DemoFailure(description: "pipe failed: errno \(errno)") }
    defer { fds.forEach { close($0) } }
    return try body(fds[0])
}
