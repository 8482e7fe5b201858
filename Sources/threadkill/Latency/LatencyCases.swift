#if canImport(Glibc)
import Glibc
#endif
import CLatencyFloor
import Synchronization
import ThreadKill

/// A failure of the benchmark itself (not a latency).
struct LatencyError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// What the target thread tells the killer: that it has entered the code to
/// be killed, and its kernel thread id (for the /proc blocked-in-syscall check).
final class Handshake: Sendable {
    private let entered = Atomic<Bool>(false)
    private let tid = Atomic<Int32>(0)

    /// Called by the target, just before the code that is killed.
    func enter() {
        tid.store(CLatencyFloor_gettid(), ordering: .relaxed)
        entered.store(true, ordering: .releasing)
    }

    /// Waits until the target has entered, then spins 20 µs so that it is in its loop.
    func waitSpinning() {
        while !entered.load(ordering: .acquiring) { sched_yield() }
        CLatencyFloor_spin(20_000)
    }

    /// Waits until the target has entered and is blocked in syscall `nr`.
    func waitBlocked(in nr: Int) throws {
        while !entered.load(ordering: .acquiring) { sched_yield() }
        let err = CLatencyFloor_waitInSyscall(tid.load(ordering: .relaxed), nr, 5_000_000_000)
        if err != 0 { throw LatencyError("thread \(tid.load(ordering: .relaxed)) never blocked in syscall \(nr)") }
    }
}

/// The signals of a run: ThreadKill's, and the spare one the C floor uses.
struct LatencySignals: Sendable {
    let threadKill: Signal
    let floor: Int32

    /// Starts one killable thread, so that ThreadKill installs its signal,
    /// then picks the first real-time signal from SIGRTMIN+2 on that is not
    /// ThreadKill's and has the default disposition.
    static func install() throws -> LatencySignals {
        _ = try KillableThread(name: "lat-probe") { _ in }.join()
        guard let own = KillableThreads.signal else { throw LatencyError("ThreadKill installed no signal") }
        let low = CLatencyFloor_sigrtmin() + 2, high = CLatencyFloor_sigrtmax()
        for signal in low...high where signal != own.rawValue && CLatencyFloor_hasDefaultDisposition(signal) != 0 {
            return LatencySignals(threadKill: own, floor: signal)
        }
        throw LatencyError("no spare real-time signal with the default disposition")
    }
}

/// One measured case: a C floor (optional) and ThreadKill's counterpart.
struct LatencyCase: Sendable {
    let label: String
    let floor: String
    let threadKill: String
    /// Fills the buffer with C samples (ns) after `warmup` discarded trials; nil: no C counterpart.
    let c: (@Sendable (_ signal: Int32, _ samples: UnsafeMutableBufferPointer<UInt64>, _ warmup: Int) throws -> Void)?
    /// One ThreadKill trial (ns), reading from `fd` where it blocks.
    let swift: @Sendable (_ fd: Int32) throws -> UInt64

    static let all: [LatencyCase] = [
        LatencyCase(
            label: "(a) stop flag",
            floor: "atomic flag store; a spinning thread sees it and returns; join",
            threadKill: "requestStop() of a thread looping on ctx.checkpoint(); join",
            c: { _, samples, warmup in try check(CLatencyFloor_flagJoin(samples.baseAddress, samples.count, warmup)) },
            swift: { _ in
                let handshake = Handshake()
                let thread = try KillableThread(name: "lat-stop") { (ctx: KillContext) throws -> Void in
                    handshake.enter()
                    while true { try ctx.checkpoint() }
                }
                handshake.waitSpinning()
                return try timed(thread, expecting: .stopRequested) { try thread.requestStop() }
            }
        ),
        LatencyCase(
            label: "(b) interrupt read",
            floor: "pthread_kill; read(2) on a pipe returns EINTR (no SA_RESTART); join",
            threadKill: "interrupt() of a thread blocked in ctx.read on a pipe; join",
            c: { signal, samples, warmup in try check(CLatencyFloor_interruptReadJoin(signal, samples.baseAddress, samples.count, warmup)) },
            swift: { fd in
                let handshake = Handshake()
                let thread = try KillableThread(name: "lat-read") { (ctx: KillContext) throws -> Void in
                    var byte: UInt8 = 0
                    handshake.enter()
                    _ = try withUnsafeMutableBytes(of: &byte) { try ctx.read(fd, into: $0) }
                }
                try handshake.waitBlocked(in: CLatencyFloor_SYS_read())
                return try timed(thread, expecting: .interrupted) { try thread.interrupt() }
            }
        ),
        LatencyCase(
            label: "(c) async spin",
            floor: "pthread_kill; the handler siglongjmps out of a spinning loop; join",
            threadKill: "interrupt() of a thread spinning in ctx.asyncKillable { arithmetic }; join",
            c: { signal, samples, warmup in try check(CLatencyFloor_longjmpJoin(signal, samples.baseAddress, samples.count, warmup)) },
            swift: { _ in
                let handshake = Handshake()
                let thread = try KillableThread(name: "lat-async") { (ctx: KillContext) throws -> UInt64 in
                    try ctx.asyncKillable { () -> UInt64 in
                        var x: UInt64 = 0x9E37_79B9_7F4A_7C15
                        handshake.enter()
                        while true { x = x &* 6364136223846793005 &+ 1442695040888963407 }
                    }
                }
                handshake.waitSpinning()
                return try timed(thread, expecting: .interrupted) { try thread.interrupt() }
            }
        ),
        LatencyCase(
            label: "(d) cancel read",
            floor: "pthread_cancel of a thread blocked in read(2) on a pipe; join",
            threadKill: "cancel() of a thread blocked in ctx.cancellableRead on a pipe; join",
            c: { _, samples, warmup in try check(CLatencyFloor_cancelReadJoin(samples.baseAddress, samples.count, warmup)) },
            swift: { fd in
                let handshake = Handshake()
                let thread = try KillableThread(name: "lat-cancel") { (ctx: KillContext) throws -> Void in
                    var byte: UInt8 = 0
                    handshake.enter()
                    _ = try withUnsafeMutableBytes(of: &byte) { try ctx.cancellableRead(fd, into: $0) }
                }
                try handshake.waitBlocked(in: CLatencyFloor_SYS_read())
                return try timed(thread, expecting: .cancelled) { try thread.cancel() }
            }
        ),
        LatencyCase(
            label: "(l) async alloc",
            floor: "pthread_kill; the handler siglongjmps out of a spinning loop; join (as (c))",
            threadKill: "interrupt() of a thread allocating in ctx.asyncKillable { objects and arrays }; join",
            c: { signal, samples, warmup in try check(CLatencyFloor_longjmpJoin(signal, samples.baseAddress, samples.count, warmup)) },
            swift: { _ in
                // ~96 % of this loop's time is in the Swift runtime and malloc,
                // where a jump is refused: the kill lands as the runtime returns
                // (Docs/SafetyModel.md, "Hijacked returns").
                final class Node {
                    let next: Node?
                    let payload: [Int]
                    init(next: Node?, payload: [Int]) { self.next = next; self.payload = payload }
                }
                let handshake = Handshake()
                let thread = try KillableThread(name: "lat-alloc") { (ctx: KillContext) throws -> Int in
                    try ctx.asyncKillable { () -> Int in
                        var list: Node? = nil
                        var n = 0
                        handshake.enter()
                        while true {
                            list = Node(next: n % 64 == 0 ? nil : list, payload: [n, n &+ 1])
                            n &+= 1
                        }
                    }
                }
                handshake.waitSpinning()
                return try timed(thread, expecting: .interrupted) { try thread.interrupt() }
            }
        ),
        LatencyCase(
            label: "(e) stop sleep",
            floor: "store + futex_wake of a thread futex-waiting on its word; join",
            threadKill: "requestStop() of a thread in ctx.sleep(for: 3600 s) (a futex wait); join",
            c: { _, samples, warmup in try check(CLatencyFloor_wakeSleeperJoin(samples.baseAddress, samples.count, warmup)) },
            swift: { _ in
                let handshake = Handshake()
                let thread = try KillableThread(name: "lat-sleep") { (ctx: KillContext) throws -> Void in
                    handshake.enter()
                    try ctx.sleep(for: .seconds(3600))
                }
                try handshake.waitBlocked(in: CLatencyFloor_SYS_futex())
                return try timed(thread, expecting: .stopRequested) { try thread.requestStop() }
            }
        ),
    ]
}

private func check(_ err: Int32) throws {
    if err != 0 { throw LatencyError("C floor failed: \(String(cString: strerror(err)))") }
}

/// Nanoseconds from `kill` to `join()` returning; checks that a kill with
/// reason `expected` ended the thread.
private func timed<Value>(_ thread: KillableThread<Value>, expecting expected: KillError.Reason, kill: () throws -> Void) throws -> UInt64 {
    let start = CLatencyFloor_nowNanos()
    try kill()
    let outcome = try thread.join()
    let elapsed = CLatencyFloor_nowNanos() - start
    guard outcome.report?.reason == expected else {
        throw LatencyError("thread \(thread.name) ended \(outcome), expected a kill with reason \(expected.rawValue)")
    }
    return elapsed
}
