// `jump-leak MODE COUNT WARMUP`: how much resident memory each thread ended by a jump
// out of an async region leaves behind, in a process of its own (RSS is
// process-wide; Swift Testing runs tests in parallel in one process).
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import ThreadKill
import ThreadKillStress

/// Tickets of the threads that reached their spin loop.
private let jumpLeakSpinning = Atomic<Int>(0)

/// Burns CPU in the program's own code until a kill jumps out: no delivery
/// point, no allocation, no retain. Announces `ticket` first.
@inline(never)
private func spinUntilKilled(_ ticket: Int) -> UInt64 {
    jumpLeakSpinning.store(ticket, ordering: .releasing)
    var x: UInt64 = 1
    while x != 0 { x = x &* 6364136223846793005 &+ 1 }  // full-period LCG: 2^64 steps
    return x
}

/// glibc's `malloc_trim` (declared in <malloc.h>, which the Glibc module does not export).
private let mallocTrim: (@convention(c) (Int) -> Int32)? = dlsym(dlopen(nil, RTLD_NOW), "malloc_trim").map {
    unsafeBitCast($0, to: (@convention(c) (Int) -> Int32).self)
}

/// Instances of `Token` alive: each is a resource `bracket` acquires.
private let tokensAlive = Atomic<Int>(0)

private final class Token: Sendable {
    let ticket: Int
    init(_ ticket: Int) {
        self.ticket = ticket
        tokensAlive.add(1, ordering: .relaxed)
    }
    deinit { tokensAlive.subtract(1, ordering: .relaxed) }
}

/// Resident set size in bytes, after returning freed heap pages to the kernel.
func trimmedResidentBytes() -> Int {
    _ = mallocTrim?(0)
    return ProcSelf.residentBytes
}

/// One thread's life in `mode`; returns the jumps that ended it.
private func jumpLeakCycle(_ mode: String, ticket: Int) throws -> Int {
    let body: @Sendable (KillContext) throws -> UInt64
    switch mode {
    case "plain":  // the floor: create, stop, join; no region
        body = { ctx in try ctx.sleep(for: .seconds(3600)); return 0 }
    case "nested":  // the region inside every kind of cleanup scope
        body = { ctx in
            ctx.onKill {}
            return try ctx.withCleanup({}) {
                try ctx.bracket(acquire: { ticket }, release: { _ in }) { t in
                    try ctx.asyncKillable { spinUntilKilled(t) }
                }
            }
        }
    case "inner":  // cleanup scopes inside the region: their frames are skipped too
        body = { ctx in
            try ctx.asyncKillable {
                ctx.onKill {}
                return try ctx.withCleanup({}) {
                    try ctx.bracket(acquire: { ticket }, release: { _ in }) { t in spinUntilKilled(t) }
                }
            }
        }
    case "resource":  // a class-typed resource of a bracket inside the region
        body = { ctx in
            try ctx.asyncKillable {
                try ctx.bracket(acquire: { Token(ticket) }, release: { _ in }) { token in spinUntilKilled(token.ticket) }
            }
        }
    default:  // "jump": a pure spin loop in a region
        body = { ctx in try ctx.asyncKillable { spinUntilKilled(ticket) } }
    }
    let thread = try KillableThread(name: "jump-leak", body)
    if mode == "plain" {
        try thread.requestStop()
    } else {
        while jumpLeakSpinning.load(ordering: .acquiring) != ticket { sched_yield() }
        try thread.interrupt()
    }
    guard case .killed = try thread.join() else {
        if mode == "plain" { return 0 }
        throw FixtureError(detail: "thread \(ticket) in mode \(mode) was not killed")
    }
    return thread.ref.injectionStatistics.jumps
}

/// Runs `warmUp` then `count` threads in `mode` and prints, on one line, the
/// RSS growth per thread and how many jumps ended the measured threads.
func jumpLeakScenario(_ mode: String, count: Int, warmUp: Int) throws {
    var ticket = 0
    for _ in 0..<warmUp {
        ticket += 1
        _ = try jumpLeakCycle(mode, ticket: ticket)
    }
    var jumps = 0
    let readings = try quarterReadings(count) { _ in
        ticket += 1
        jumps += try jumpLeakCycle(mode, ticket: ticket)
    }
    say("jump-leak mode=\(mode) threads=\(count) jumps=\(jumps) \(readings) resourcesAlive=\(tokensAlive.load(ordering: .relaxed))")
}

/// Runs `step` `count` times and reports the RSS growth: in all, per quarter,
/// and per step as the smallest of the four quarters' slopes. A steady leak
/// shows in every quarter; a one-off growth (the allocator settling, about
/// 200 KiB, plain threads too) in one only, so it does not count.
func quarterReadings(_ count: Int, per unit: String = "perThread", _ step: (Int) throws -> Void) rethrows -> String {
    var marks = [trimmedResidentBytes()]
    for i in 0..<count {
        if i > 0 && i % (count / 4) == 0 && marks.count < 4 {
            marks.append(trimmedResidentBytes())
            // The tests' silence bound applies per quarter: on a loaded
            // machine 4,000 kills into a spinning thread take 30 s and more
            // (each waits for the thread to get a CPU), not 0.3 s.
            say("progress: quarter \(marks.count - 1) of 4 done")
        }
        try step(i)
    }
    marks.append(trimmedResidentBytes())
    let quarters = (1..<marks.count).map { marks[$0] - marks[$0 - 1] }
    let perStep = quarters.map { $0 / max(count / 4, 1) }.min() ?? 0
    return "growth=\(marks.last! - marks[0]) quarters=\(quarters.map(String.init).joined(separator: ",")) \(unit)=\(perStep)"
}

/// Runs `jump-leak MODE COUNT WARMUP` or `vouched-leak inside|outside COUNT`;
/// false for any other command line.
func leakScenario(_ arguments: [String]) throws -> Bool {
    if arguments.count == 5 && arguments[1] == "jump-leak", let count = Int(arguments[3]), let warmUp = Int(arguments[4]) {
        try jumpLeakScenario(arguments[2], count: count, warmUp: warmUp)
        return true
    }
    if arguments.count == 4 && arguments[1] == "vouched-leak", let count = Int(arguments[3]) {
        try vouchedLeakScenario(arguments[2], count: count)
        return true
    }
    return false
}
