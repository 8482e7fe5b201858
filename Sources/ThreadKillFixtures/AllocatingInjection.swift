// `allocating-injection N`: N interrupts into one thread whose async region
// allocates and frees objects as fast as it can — the code where a PC check
// declines most signals (the thread is in the Swift runtime or malloc ~96 % of
// the time). Prints the latency percentiles, the injection statistics, and
// proves the process healthy afterwards. Run in a child process: it counts
// the process's own allocations.
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import ThreadKill

/// A heap object the loop builds and drops.
private final class Node {
    var next: Node?
    var payload: [Int]
    init(next: Node?, payload: [Int]) {
        self.next = next
        self.payload = payload
    }
}

func allocatingInjectionScenario(count: Int) throws {
    let landed = Atomic<Int>(0)
    let inLoop = Atomic<Int>(0)
    let thread = try KillableThread(name: "alloc-loop") { ctx in
        while true {
            do {
                try ctx.asyncKillable {
                    var list: Node? = nil
                    var n = 0
                    inLoop.store(1, ordering: .releasing)
                    while true {
                        list = Node(next: n % 64 == 0 ? nil : list, payload: [n, n &+ 1])
                        n &+= 1
                    }
                }
            } catch let kill as KillError where kill.reason == .interrupted {
                inLoop.store(0, ordering: .releasing)
                landed.add(1, ordering: .releasing)
            }
        }
    }
    var latencies: [UInt64] = []
    latencies.reserveCapacity(count)
    for i in 0..<count {
        while inLoop.load(ordering: .acquiring) == 0 { sched_yield() }
        let start = monotonicNanos()
        try thread.interrupt()
        while landed.load(ordering: .acquiring) == i { sched_yield() }
        latencies.append(monotonicNanos() - start)
    }
    let statistics = thread.ref.injectionStatistics
    _ = try thread.stop(grace: .seconds(10))
    latencies.sort()
    func percentile(_ p: Double) -> Double { Double(latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))]) / 1000 }
    say("p50_us \(percentile(0.5)) p99_us \(percentile(0.99)) max_us \(percentile(1.0))")
    say("jumps \(statistics.jumps) on_return \(statistics.jumpsOnReturn) hijacked \(statistics.returnsHijacked) declines \(statistics.totalDeclines)")
    // Healthy: malloc and free work from another thread, and the runtime's
    // allocation path is not left holding anything.
    let probe = try KillableThread { _ in (0..<10_000).map { Node(next: nil, payload: [$0]) }.count }
    let made = try probe.join().get()
    precondition(made == 10_000)
    say("healthy")
}

private func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
