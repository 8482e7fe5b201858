// The declining handler's retry timer, with the watchdog's resends turned off
// (`resendWindow` zero, process-wide: hence a child process). Both scenarios
// run their threads in a JIT loop: anonymous executable code, which no check
// can vouch for and no return of which can be hijacked.
//
// `retry-timer`: a loop that is part JIT code, part its own. A kill whose
//   first signal is declined in the JIT code (no return there to hijack)
//   lands only if a retry finds the loop's own code. Prints "landed N after
//   retries" per such thread (three of them), or "not landed…" and exits 1.
// `retry-window`: a C loop of 1 ms sleeps called through a JIT thunk (so the
//   kill can land nowhere inside it) with a kill pending. Retries end 10 ms
//   after the (zero) resend window: prints "eintrs N retries R kill K", N the
//   EINTRs its sleeps saw, K the kill taken at the checkpoint after.
// `retry-refused`: the `retry-timer` loop where the kernel refuses
//   timer_create (a seccomp filter): no retry can be armed, and a kill whose
//   first signal was declined lands by the watchdog's resends. Prints
//   "landed N after resends" per such thread (three of them), or exits 1.
#if canImport(Glibc)
import Glibc
#endif
import CPthreadShim
import CThreadKillTestSupport
import Synchronization
import ThreadKill

#if arch(x86_64)
/// Copies x86_64 machine code into a fresh executable anonymous page.
private func jitPage(_ code: [UInt8]) throws -> UnsafeMutableRawPointer {
    let size = Int(sysconf(Int32(_SC_PAGESIZE)))
    guard let page = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), page != MAP_FAILED else {
        throw FixtureError(detail: "mmap: errno \(errno)")
    }
    page.copyMemory(from: code, byteCount: code.count)
    guard mprotect(page, size, PROT_READ | PROT_EXEC) == 0 else { throw FixtureError(detail: "mprotect: errno \(errno)") }
    return page
}

/// A call of ~1 µs into JIT code: mov ecx, 0x1000; 1: dec ecx; jnz 1b; ret.
private typealias Spin = @convention(c) () -> Void
private func jitSpin() throws -> Spin {
    unsafeBitCast(try jitPage([0xb9, 0x00, 0x10, 0x00, 0x00, 0xff, 0xc9, 0x75, 0xfc, 0xc3]), to: Spin.self)
}

/// Starts a thread looping in an async region, part in `jit`, most in its
/// own code, and returns once it loops: a signal in the JIT code is declined
/// (no check can vouch for it, no return there can be hijacked), one in the
/// own code lands.
private func startJITLoop(named name: String, _ jit: @escaping Spin) throws -> KillableThread<Void> {
    let running = Atomic(false)
    let thread = try KillableThread(name: name) { ctx in
        let own = Atomic(0)
        try ctx.asyncKillable {
            running.store(true, ordering: .releasing)
            while true {
                jit()
                for _ in 0..<300 { own.add(1, ordering: .relaxed) }  // own code, most of the loop
            }
        }
    }
    while !running.load(ordering: .acquiring) { sched_yield() }
    return thread
}
#endif

func retryTimerScenario() throws {
    #if arch(x86_64)
    KillableThreads.resendWindow = .zero
    let jit = try jitSpin()
    // Some signals find the loop's own code and land at once; a thread whose
    // first signal was declined (it armed a retry) never lands without one.
    // Retries end 10 ms after the send (the window is zero): on a loaded
    // machine a thread may first run its handler, or its retries, only after
    // that. Such a kill stays pending: the thread is interrupted again until
    // it lands, and is not counted. A thread whose kill did not land and that
    // armed no retry is what a missing retry timer looks like every time: five
    // of them fail the scenario.
    var retried = 0, unretried = 0
    for _ in 0..<500 where retried < 3 {
        let thread = try startJITLoop(named: "retry-timer", jit)
        try thread.interrupt()
        if let outcome = try thread.join(timeout: .seconds(2)) {
            let statistics = thread.ref.injectionStatistics
            // A first decline in the runtime (the loop's Atomic) may also have
            // hijacked a return, which can land it without a retry: not counted.
            if statistics.retries > 0 && statistics.jumpsOnReturn == 0 {
                retried += 1
                say("landed \(outcome.report?.reason.rawValue ?? "-") after retries")
            }
            continue
        }
        if thread.ref.injectionStatistics.retries == 0 {
            unretried += 1
            if unretried == 5 {
                say("not landed, and no retry armed, five times: \(thread.ref.injectionStatistics)")
                exit(1)
            }
        }
        var sends = 0
        while try thread.join(timeout: .milliseconds(100)) == nil {
            sends += 1
            guard sends <= 100 else {
                say("not landed after 100 more sends: \(thread.ref.injectionStatistics)")
                exit(1)
            }
            try thread.interrupt()
        }
    }
    #else
    throw FixtureError(detail: "retry-timer: the JIT loop is x86_64 machine code")
    #endif
}

func retryRefusedScenario() throws {
    #if arch(x86_64)
    guard tk_test_refuse_timer_create() == 0 else { throw FixtureError(detail: "seccomp: errno \(errno)") }
    let jit = try jitSpin()
    // The loop of `retry-timer`, with the default resend window and no timer
    // to be had: a kill whose first signal was declined in the JIT code can
    // only land by a later signal, and only the watchdog sends one.
    var resent = 0
    for _ in 0..<500 where resent < 3 {
        let thread = try startJITLoop(named: "retry-refused", jit)
        try thread.interrupt()
        guard let outcome = try thread.join(timeout: .seconds(10)) else {
            say("not landed: \(thread.ref.injectionStatistics)")
            exit(1)
        }
        let statistics = thread.ref.injectionStatistics
        guard statistics.retries == 0 else {
            say("a retry was armed, though timer_create is refused: \(statistics)")
            exit(1)
        }
        if statistics.totalDeclines > 0 && statistics.jumpsOnReturn == 0 {
            resent += 1
            say("landed \(outcome.report?.reason.rawValue ?? "-") after resends")
        }
    }
    #else
    throw FixtureError(detail: "retry-refused: the JIT loop is x86_64 machine code")
    #endif
}

func retryWindowScenario() throws {
    #if arch(x86_64)
    KillableThreads.resendWindow = .zero
    // A frame whose return address is JIT code, around a call of the C loop:
    // push rbp; mov rbp, rsp; mov rax, rdi; mov rdi, rsi; mov rsi, rdx;
    // mov rdx, rcx; call rax; pop rbp; ret
    let thunkCode: [UInt8] = [0x55, 0x48, 0x89, 0xe5, 0x48, 0x89, 0xf8, 0x48, 0x89, 0xf7,
                              0x48, 0x89, 0xd6, 0x48, 0x89, 0xca, 0xff, 0xd0, 0x5d, 0xc3]
    typealias Sleeps = @convention(c) (Int, Int) -> Int
    typealias Thunk = @convention(c) (Sleeps, Int, Int) -> Int
    let thunk = unsafeBitCast(try jitPage(thunkCode), to: Thunk.self)
    tk_test_reset()
    let eintrs = Atomic(-1)
    let thread = try KillableThread(name: "retry-window") { ctx in
        try ctx.asyncKillable {
            // 300 sleeps of 1 ms: unbounded retries would interrupt them ~3,000 times.
            eintrs.store(thunk(tk_test_sleeps_interrupted, 300, 1_000_000), ordering: .releasing)
        }
        try ctx.checkpoint()  // the kill is still pending: taken here
    }
    while tk_test_inside() == 0 { sched_yield() }
    try thread.interrupt()
    guard let outcome = try thread.join(timeout: .seconds(30)) else {
        say("not ended: \(thread.ref.injectionStatistics)")
        exit(1)
    }
    let statistics = thread.ref.injectionStatistics
    say("eintrs \(eintrs.load(ordering: .acquiring)) retries \(statistics.retries) kill \(outcome.report?.reason.rawValue ?? "-")")
    #else
    throw FixtureError(detail: "retry-window: the JIT thunk is x86_64 machine code")
    #endif
}

