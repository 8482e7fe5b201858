// `retry-timer`: a kill aimed at a loop that spends ~99 % of its time in
// anonymous executable code (a JIT's, which no check can vouch for and no
// return of which can be hijacked), with the watchdog's resends turned off
// (`resendWindow` zero): only the declining handler's own retry timer can
// send the signal that finds the loop in its own code. A child process,
// since `resendWindow` is process-wide. Prints "landed N" per thread, or
// "not landed" and exits 1.
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import ThreadKill

func retryTimerScenario() throws {
    #if arch(x86_64)
    KillableThreads.resendWindow = .zero
    // mov ecx, 0x1000; 1: dec ecx; jnz 1b; ret — about a microsecond per call.
    let code: [UInt8] = [0xb9, 0x00, 0x10, 0x00, 0x00, 0xff, 0xc9, 0x75, 0xfc, 0xc3]
    let size = Int(sysconf(Int32(_SC_PAGESIZE)))
    guard let page = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), page != MAP_FAILED else {
        throw FixtureError(detail: "mmap: errno \(errno)")
    }
    page.copyMemory(from: code, byteCount: code.count)
    guard mprotect(page, size, PROT_READ | PROT_EXEC) == 0 else { throw FixtureError(detail: "mprotect: errno \(errno)") }
    typealias Spin = @convention(c) () -> Void
    let jit = unsafeBitCast(page, to: Spin.self)
    // Three threads in a row: a first signal that happens to find the loop's
    // own code (about 1 %) lands with no retry; three in a row do not.
    for _ in 0..<3 {
        let running = Atomic(false)
        let thread = try KillableThread(name: "retry-timer") { ctx in
            try ctx.asyncKillable {
                running.store(true, ordering: .releasing)
                while true { jit() }
            }
        }
        while !running.load(ordering: .acquiring) { sched_yield() }
        try thread.interrupt()
        guard let outcome = try thread.join(timeout: .seconds(10)) else {
            say("not landed: \(thread.ref.injectionStatistics)")
            exit(1)
        }
        let statistics = thread.ref.injectionStatistics
        say("landed \(outcome.report?.reason.rawValue ?? "-") after \(statistics.retries > 0 ? "retries" : "no retry")")
    }
    #else
    throw FixtureError(detail: "retry-timer: the JIT loop is x86_64 machine code")
    #endif
}
