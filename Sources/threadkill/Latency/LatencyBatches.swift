#if canImport(Glibc)
import Glibc
#endif
import CLatencyFloor
import Synchronization
import ThreadKill

/// A batch case of `threadkill latency`: one figure for a whole batch
/// (nanoseconds per call, threads per second, a mass stop's total, bytes per
/// thread), measured on C and on ThreadKill alternately, several runs each.
struct LatencyBatch: Sendable {
    let label: String
    let floor: String
    let threadKill: String
    /// What one figure is, for the table ("ns/call", "threads/s", …).
    let unit: String
    /// The issue-16 target, as text, and the check of a ratio against it.
    let target: String
    let meets: @Sendable (_ ratio: Double, _ threadKill: Double) -> Bool
    /// Whether the ratio is ThreadKill over C minus one (bytes beyond the floor) instead of a quotient.
    let difference: Bool
    let c: @Sendable (_ context: BatchContext) throws -> Double
    let swift: @Sendable (_ context: BatchContext) throws -> Double

    static let massThreads = 10_000
    static let massStack = 128 * 1024

    static let all: [LatencyBatch] = [
        LatencyBatch(
            label: "(f) checkpoint",
            floor: "relaxed load of a _Thread_local flag in a loop",
            threadKill: "try ctx.checkpoint() in a loop on a killable thread",
            unit: "ns/call", target: "≤ 1.20×", meets: { r, _ in r <= 1.2 }, difference: false,
            c: { context in
                let n = context.checkpointIterations
                return Double(try nonzero(CLatencyFloor_flagLoop(n))) / Double(n)
            },
            swift: { context in
                let n = context.checkpointIterations
                let thread = try KillableThread(name: "lat-ckpt") { (ctx: KillContext) throws -> UInt64 in
                    let start = CLatencyFloor_nowNanos()
                    for _ in 0..<n { try ctx.checkpoint() }
                    return CLatencyFloor_nowNanos() - start
                }
                guard case .returned(let nanos) = try thread.join() else { throw LatencyError("the checkpoint loop did not return") }
                return Double(nanos) / Double(n)
            }
        ),
        LatencyBatch(
            label: "(g) spawn+stop+join",
            floor: "pthread_create (thread futex-waits); store + futex_wake; pthread_join — in a row",
            threadKill: "KillableThread { ctx.sleep(3600 s) }; requestStop(); join() — in a row",
            unit: "threads/s", target: "≥ 0.90×", meets: { r, _ in r >= 0.9 }, difference: false,
            c: { context in
                let n = context.spawnCount
                return Double(n) / (Double(try nonzero(CLatencyFloor_spawnStopJoin(n))) / 1e9)
            },
            swift: { context in
                let n = context.spawnCount
                let start = CLatencyFloor_nowNanos()
                for _ in 0..<n {
                    let thread = try KillableThread(name: "lat-spawn") { (ctx: KillContext) throws -> Void in try ctx.sleep(for: .seconds(3600)) }
                    try thread.requestStop()
                    _ = try thread.join()
                }
                return Double(n) / (Double(CLatencyFloor_nowNanos() - start) / 1e9)
            }
        ),
        LatencyBatch(
            label: "(h) mass interrupt",
            floor: "10,000 threads in read(2) on a pipe: pthread_kill each (EINTR), join each",
            threadKill: "10,000 killable threads in ctx.read on a pipe: interrupt() each, join() each",
            unit: "ms", target: "≤ 1.20× and ≤ 1 s", meets: { r, tk in r <= 1.2 && tk <= 1000 }, difference: false,
            c: { context in
                var err: Int32 = 0
                let nanos = CLatencyFloor_massInterruptRead(context.floorSignal, context.fd, massThreads, massStack, &err)
                try check(err)
                return Double(nanos) / 1e6
            },
            swift: { context in
                let fd = context.fd
                let entered = Atomic<Int>(0)
                let threads = try (0..<massThreads).map { _ in
                    try KillableThread(name: "lat-mass", stackSize: massStack) { (ctx: KillContext) throws -> Void in
                        var byte: UInt8 = 0
                        entered.add(1, ordering: .releasing)
                        _ = try withUnsafeMutableBytes(of: &byte) { try ctx.read(fd, into: $0) }
                    }
                }
                try waitAll(entered: entered, inSyscall: CLatencyFloor_SYS_read())
                let start = CLatencyFloor_nowNanos()
                for thread in threads { try thread.interrupt() }
                for thread in threads {
                    guard case .killed = try thread.join() else { throw LatencyError("a mass-interrupted thread did not end killed") }
                }
                return Double(CLatencyFloor_nowNanos() - start) / 1e6
            }
        ),
        LatencyBatch(
            label: "(i) mass stop sleep",
            floor: "10,000 threads futex-waiting: store + futex_wake each, join each",
            threadKill: "10,000 killable threads in ctx.sleep(3600 s): requestStop() each, join() each",
            unit: "ms", target: "≤ 1.20×", meets: { r, _ in r <= 1.2 }, difference: false,
            c: { _ in
                var err: Int32 = 0
                let nanos = CLatencyFloor_massWakeSleepers(massThreads, massStack, &err)
                try check(err)
                return Double(nanos) / 1e6
            },
            swift: { _ in
                let entered = Atomic<Int>(0)
                let threads = try (0..<massThreads).map { _ in
                    try KillableThread(name: "lat-msleep", stackSize: massStack) { (ctx: KillContext) throws -> Void in
                        entered.add(1, ordering: .releasing)
                        try ctx.sleep(for: .seconds(3600))
                    }
                }
                try waitAll(entered: entered, inSyscall: CLatencyFloor_SYS_futex())
                let start = CLatencyFloor_nowNanos()
                for thread in threads { try thread.requestStop() }
                for thread in threads {
                    guard try thread.join().report?.reason == .stopRequested else { throw LatencyError("a mass-stopped thread did not end stopped") }
                }
                return Double(CLatencyFloor_nowNanos() - start) / 1e6
            }
        ),
        LatencyBatch(
            label: "(j) memory/thread",
            floor: "malloc in use per idle raw pthread (futex wait), 128 KiB stack, over 1,000",
            threadKill: "malloc in use per idle KillableThread (ctx.sleep) and its handle, same stack",
            unit: "B/thread", target: "≤ +1024 B", meets: { d, _ in d <= 1024 }, difference: true,
            c: { _ in
                var err: Int32 = 0
                let bytes = CLatencyFloor_idleThreadMalloc(1000, massStack, &err)
                try check(err)
                return Double(bytes)
            },
            swift: { _ in Double(try idleKillableThreadMalloc(count: 1000, stackSize: massStack)) }
        ),
        LatencyBatch(
            label: "(k) process kill",
            floor: "posix_spawn this binary (pauses); kill(SIGKILL); waitpid",
            threadKill: "IsolatedProcess.start(a job that pauses); terminate(grace: 0) → result",
            unit: "µs", target: "≤ 1.10×", meets: { r, _ in r <= 1.1 }, difference: false,
            c: { _ in
                let path = "/proc/self/exe"
                var err: Int32 = 0
                let nanos = path.withCString { cPath in
                    withPausingChildArguments { argv in CLatencyFloor_killReap(cPath, argv, &err) }
                }
                try check(err)
                return Double(nanos) / 1e3
            },
            swift: { _ in
                let process = try IsolatedProcess.start(LatencyJobs.pause, input: 0)
                // The worker is a supervisor that forks the job: wait for its child to pause.
                let job = try firstChild(of: process.processIdentifier)
                let err = CLatencyFloor_waitProcessInSyscall(job, CLatencyFloor_SYS_pause(), 10_000_000_000)
                if err != 0 { throw LatencyError("the isolated process's job never paused") }
                let start = CLatencyFloor_nowNanos()
                _ = try process.terminate(grace: .zero)
                return Double(CLatencyFloor_nowNanos() - start) / 1e3
            }
        ),
    ]
}

/// What every batch needs from the run.
struct BatchContext: Sendable {
    let floorSignal: Int32
    let fd: Int32
    let checkpointIterations: UInt64 = 50_000_000
    let spawnCount = 1000
}

/// The job of case (k), and the raw child of its floor: both pause until killed.
enum LatencyJobs {
    static let pause = IsolatedProcess.register("latency-pause") { (_: Int) -> Int in
        while true { Glibc.pause() }
    }

    /// The argument that makes this binary a raw pausing child (the floor of case (k)).
    static let childArgument = "__latency-pausing-child"

    /// Registers the job; in a raw pausing child, pauses until killed.
    static func register() {
        _ = pause
        if CommandLine.arguments.dropFirst().first == childArgument {
            while true { Glibc.pause() }
        }
    }
}

private func withPausingChildArguments<R>(_ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    let argv: [UnsafeMutablePointer<CChar>?] = [strdup(CommandLine.arguments[0]), strdup(LatencyJobs.childArgument), nil]
    defer { argv.forEach { free($0) } }
    return argv.withUnsafeBufferPointer { body($0.baseAddress!) }
}

/// Bytes of malloc in use per idle killable thread (with its handle), over `count`.
/// The memory case's count of entered threads: a global, so that the body
/// captures nothing (its closure context would be the caller's bytes, as the
/// C floor's per-thread argument, allocated before its measure, is).
private let memoryEntered = Atomic<Int>(0)

private func idleKillableThreadMalloc(count: Int, stackSize: Int) throws -> Int {
    memoryEntered.store(0, ordering: .relaxed)
    var threads: [KillableThread<Void>] = []
    threads.reserveCapacity(count)
    let before = CLatencyFloor_mallocInUse()
    for _ in 0..<count {
        threads.append(try KillableThread(name: "lat-mem", stackSize: stackSize) { (ctx: KillContext) throws -> Void in
            memoryEntered.add(1, ordering: .releasing)
            try ctx.sleep(for: .seconds(3600))
        })
    }
    try waitAll(entered: memoryEntered, count: count, inSyscall: CLatencyFloor_SYS_futex())
    let after = CLatencyFloor_mallocInUse()
    for thread in threads { try thread.requestStop() }
    for thread in threads { _ = try thread.join() }
    return (Int(after) - Int(before)) / count
}

/// Waits until `count` threads have entered and as many threads are in syscall `nr`.
private func waitAll(entered: borrowing Atomic<Int>, count: Int = LatencyBatch.massThreads, inSyscall nr: Int) throws {
    let deadline = CLatencyFloor_nowNanos() + 60_000_000_000
    while entered.load(ordering: .acquiring) < count { sched_yield() }
    while CLatencyFloor_countInSyscall(nr) < Int32(count) {
        if CLatencyFloor_nowNanos() > deadline { throw LatencyError("\(count) threads never all blocked in syscall \(nr)") }
        sched_yield()
    }
}

/// The first child of `pid` (from /proc/PID/task/PID/children), waiting up to 10 s for one.
private func firstChild(of pid: pid_t) throws -> pid_t {
    let deadline = CLatencyFloor_nowNanos() + 10_000_000_000
    while CLatencyFloor_nowNanos() < deadline {
        if let file = fopen("/proc/\(pid)/task/\(pid)/children", "r") {
            var line = [CChar](repeating: 0, count: 64)
            let read = fgets(&line, Int32(line.count), file) != nil
            fclose(file)
            let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if read, let first = text.split(separator: " ").first, let child = Int32(first) { return child }
        }
        sched_yield()
    }
    throw LatencyError("process \(pid) never started a child")
}

private func nonzero(_ value: UInt64) throws -> UInt64 {
    if value == 0 { throw LatencyError("C floor failed: errno \(errno)") }
    return value
}

private func check(_ err: Int32) throws {
    if err != 0 { throw LatencyError("C floor failed: \(String(cString: strerror(err)))") }
}
