import CPthreadShim
import Dispatch
import Synchronization
import Testing
@testable import ThreadKill
#if canImport(Glibc)
import Glibc
#endif

/// A pipe that closes both ends when dropped.
final class Pipe: Sendable {
    let read: Int32
    let write: Int32
    init() {
        var fds: [Int32] = [0, 0]
        precondition(Glibc.pipe(&fds) == 0)
        read = fds[0]
        write = fds[1]
    }
    deinit {
        close(read)
        close(write)
    }
}

/// A loopback TCP listener on an ephemeral port.
final class Listener: Sendable {
    let fd: Int32
    let port: UInt16
    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        try #require(bound == 0 && listen(fd, 8) == 0)
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        self.fd = fd
        port = UInt16(bigEndian: addr.sin_port)
    }
    deinit { close(fd) }

    /// A client socket connected to this listener.
    func connectClient() -> Int32 {
        let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = port.bigEndian
        let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(client, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        precondition(ok == 0)
        return client
    }
}

/// Starts a thread that runs `body` after telling us it is about to block,
/// interrupts it, and returns the kill it ended with.
func interruptWhileBlocked(_ name: String, _ body: @escaping @Sendable (KillContext) throws -> Void) throws -> KillError.Reason? {
    let entering = Latch()
    let thread = try KillableThread(name: name) { ctx in
        entering.open()
        try body(ctx)
    }
    entering.wait()
    // The interrupt may land before or after the thread blocks: both must wake it.
    try thread.interrupt()
    return try thread.joinOrFail().report?.reason
}

@Suite("Interrupting blocked threads")
struct InterruptTests {
    @Test("interrupt wakes a read on a pipe nobody writes to", .timeLimit(.hang),
      .disabled(under: .thread, because: "TSan defers the signal while the stub blocks in a restartable syscall: Docs/Sanitizers.md"))
    func pipeRead() throws {
        let pipe = Pipe()
        #expect(try interruptWhileBlocked("read") { ctx in
            var byte: UInt8 = 0
            _ = try withUnsafeMutableBytes(of: &byte) { try ctx.read(pipe.read, into: $0) }
        } == .interrupted)
    }

    @Test("interrupt wakes an accept on a loopback listener", .timeLimit(.hang),
      .disabled(under: .thread, because: "TSan defers the signal while the stub blocks in a restartable syscall: Docs/Sanitizers.md"))
    func loopbackAccept() throws {
        let listener = try Listener()
        #expect(try interruptWhileBlocked("accept") { ctx in _ = try ctx.accept(listener.fd) } == .interrupted)
    }

    @Test("interrupt wakes a recv on a connected socket", .timeLimit(.hang),
      .disabled(under: .thread, because: "TSan defers the signal while the stub blocks in a restartable syscall: Docs/Sanitizers.md"))
    func socketRecv() throws {
        let listener = try Listener()
        let client = listener.connectClient()
        defer { close(client) }
        #expect(try interruptWhileBlocked("recv") { ctx in
            var buffer = [UInt8](repeating: 0, count: 16)
            _ = try buffer.withUnsafeMutableBytes { try ctx.recv(client, into: $0) }
        } == .interrupted)
    }

    @Test("interrupt wakes a one-hour sleep and a monitor wait", .timeLimit(.hang))
    func sleepAndWait() throws {
        #expect(try interruptWhileBlocked("sleep") { ctx in try ctx.sleep(for: .seconds(3600)) } == .interrupted)
        let monitor = Monitor(false)
        #expect(try interruptWhileBlocked("wait") { ctx in _ = try ctx.wait(on: monitor, until: { $0 }) { _ in } } == .interrupted)
    }

    @Test("interrupt wakes a poll with no timeout", .timeLimit(.hang))
    func pollForever() throws {
        let pipe = Pipe()
        #expect(try interruptWhileBlocked("poll") { ctx in
            var fds = [pollfd(fd: pipe.read, events: Int16(POLLIN), revents: 0)]
            _ = try ctx.poll(&fds)
        } == .interrupted)
    }

    @Test("interrupt wakes a waitpid on a sleeping child", .timeLimit(.hang),
      .disabled(under: .thread, because: "TSan defers the signal while the stub blocks in a restartable syscall: Docs/Sanitizers.md"))
    func waitpidOnChild() throws {
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sleep"), strdup("1000"), nil]
        defer { argv.forEach { free($0) } }
        try #require(posix_spawn(&pid, "/bin/sleep", nil, nil, argv, environ) == 0)
        defer {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            Glibc.waitpid(pid, &status, 0)
        }
        let child = pid
        #expect(try interruptWhileBlocked("waitpid") { ctx in _ = try ctx.waitpid(child) } == .interrupted)
    }

    @Test("interrupt wakes a foreign C read inside a blocking region with EINTR", .timeLimit(.hang))
    func foreignReadInBlockingRegion() throws {
        let pipe = Pipe()
        let result = Mutex<(Int, Int32)>((0, 0))
        let tid = Atomic<Int32>(0)
        let thread = try KillableThread(name: "foreign") { ctx in
            tid.store(CPthreadShim_gettid(), ordering: .releasing)
            try ctx.blocking {
                var byte: UInt8 = 0
                let n = Glibc.read(pipe.read, &byte, 1)
                result.withLock { $0 = (n, errno) }
            }
        }
        eventually("thread started") { tid.load(ordering: .acquiring) != 0 }
        waitUntilInSyscall(tid: tid.load(ordering: .acquiring), Int(CPthreadShim_SYS_read))
        try thread.interrupt()
        #expect(try thread.joinOrFail().report?.reason == .interrupted)
        #expect(result.withLock { $0 } == (-1, EINTR))
    }

    /// A signal that finds foreign code between two system calls ends none
    /// (its handler has no syscall to turn into EINTR) and is spent; only a
    /// resend wakes the read that code blocks in next. With `held`, the
    /// code first keeps the signal blocked for at least that long, as a library
    /// that masks signals around its own work does: the watchdog, which
    /// looks at a kill whose signal is still in flight less and less often,
    /// must still resend it once it is spent.
    private func resentAfterSpentSignal(blockedFor held: Duration?) throws {
        let pipe = Pipe()
        let inRegion = Atomic(false), proceed = Atomic(false)
        let result = Mutex<(Int, Int32)>((0, 0))
        let thread = try KillableThread(name: "between") { ctx in
            try ctx.blocking {
                var saved = sigset_t()
                if held != nil {
                    var all = sigset_t()
                    sigfillset(&all)
                    pthread_sigmask(SIG_BLOCK, &all, &saved)
                }
                inRegion.store(true, ordering: .releasing)
                while !proceed.load(ordering: .acquiring) {}  // between system calls
                if let held {
                    let until = ContinuousClock.now + held
                    while ContinuousClock.now < until {}  // the signal stays in flight at least this long
                    pthread_sigmask(SIG_SETMASK, &saved, nil)  // delivered here, after the syscall: spent
                }
                var byte: UInt8 = 0
                let n = Glibc.read(pipe.read, &byte, 1)
                result.withLock { $0 = (n, errno) }
            }
        }
        eventually("the thread in its region") { inRegion.load(ordering: .acquiring) }
        try thread.interrupt()
        if held == nil {
            // Handled while the thread spins: nothing to end, so it is spent.
            eventually("the first signal handled") { CPthreadShim_handled_load(thread.core.block) >= 1 }
        }
        proceed.store(true, ordering: .releasing)
        let outcome = try thread.join(timeout: hangBound)
        if outcome == nil {  // not resent: let the read end, so that the test fails without a stuck thread
            var byte: UInt8 = 0
            _ = Glibc.write(pipe.write, &byte, 1)
            _ = try thread.join()
        }
        #expect(outcome?.report?.reason == .interrupted, "the read was not woken: the spent signal was not resent")
        #expect(result.withLock { $0 } == (-1, EINTR))
    }

    @Test("a signal spent while foreign code is between system calls is resent: the read it blocks in next ends with EINTR",
          .timeLimit(.hang))
    func spentSignalResent() throws {
        try resentAfterSpentSignal(blockedFor: nil)
    }

    @Test("the same after the signal was kept blocked by the foreign code for 50 ms: a kill long in flight is still resent once spent",
          .timeLimit(.hang))
    func longInFlightSignalResent() throws {
        try resentAfterSpentSignal(blockedFor: .milliseconds(50))
    }

    @Test("completed reads keep their data: an interrupt never eats bytes", .timeLimit(.hang))
    func completedReadKeepsData() throws {
        let pipe = Pipe()
        let thread = try KillableThread { ctx -> Int in
            var total = 0
            var buffer = [UInt8](repeating: 0, count: 1)
            while total < 200 {
                do {
                    total += try buffer.withUnsafeMutableBytes { try ctx.read(pipe.read, into: $0) }
                } catch let kill as KillError where kill.reason == .interrupted {
                    continue
                }
            }
            return total
        }
        for i in 0..<200 {
            var byte = UInt8(i & 0xff)
            #expect(Glibc.write(pipe.write, &byte, 1) == 1)
            try? thread.interrupt()
        }
        #expect(try thread.joinOrFail().value == 200)
    }

    @Test("10,000 interrupts timed around syscall entry: none is lost", .timeLimit(.minutes(3)),
      .disabled(under: .thread, because: "TSan defers the signal while the stub blocks in a restartable syscall: Docs/Sanitizers.md"))
    func noLostWakeups() throws {
        let pipe = Pipe()
        let observed = Atomic<Int>(0)
        let total = 10_000
        let thread = try KillableThread(name: "race") { ctx in
            var byte: UInt8 = 0
            while observed.load(ordering: .acquiring) < total {
                do {
                    _ = try withUnsafeMutableBytes(of: &byte) { try ctx.read(pipe.read, into: $0) }
                } catch let kill as KillError where kill.reason == .interrupted {
                    observed.add(1, ordering: .releasing)
                }
            }
        }
        var rng = SystemRandomNumberGenerator()
        for i in 0..<total {
            // Spin a random few microseconds so the interrupt lands anywhere
            // from "still in the catch" to "blocked in the kernel".
            let spins = Int.random(in: 0..<4_000, using: &rng)
            var x = 0
            for j in 0..<spins { x &+= j }
            precondition(x >= 0)
            try thread.interrupt()
            let deadline = ContinuousClock.now + hangBound
            while observed.load(ordering: .acquiring) <= i {
                if ContinuousClock.now > deadline {
                    Issue.record("interrupt \(i) was lost")
                    return
                }
                sched_yield()
            }
        }
        _ = try thread.joinOrFail()
        #expect(observed.load(ordering: .acquiring) == total)
    }

    @Test("1,000 interrupts of a foreign read in a blocking region: none is lost", .timeLimit(.minutes(3)))
    func noLostWakeupsInBlockingRegion() throws {
        let pipe = Pipe()
        let observed = Atomic<Int>(0)
        let total = 1_000
        let thread = try KillableThread(name: "race-blk") { ctx in
            while observed.load(ordering: .acquiring) < total {
                do {
                    try ctx.blocking {
                        var byte: UInt8 = 0
                        _ = Glibc.read(pipe.read, &byte, 1)
                    }
                } catch let kill as KillError where kill.reason == .interrupted {
                    observed.add(1, ordering: .releasing)
                }
            }
        }
        for i in 0..<total {
            try thread.interrupt()
            eventually("interrupt \(i) observed") { observed.load(ordering: .acquiring) > i }
        }
        _ = try thread.joinOrFail()
    }
}

@Suite("Kills that must not vanish or land late")
struct StickinessTests {
    @Test("a stop swallowed by a catch-all is thrown again at the next delivery point")
    func swallowedStop() throws {
        let started = Latch()
        let thread = try KillableThread { ctx -> String in
            var swallowed = false
            started.open()
            do { try ctx.sleep(for: .seconds(3600)) } catch { swallowed = true }
            #expect(swallowed)
            try ctx.checkpoint()
            return "not stopped"
        }
        started.wait()
        try thread.requestStop()
        #expect(try thread.joinOrFail().report?.reason == .stopRequested)
    }

    @Test("an interrupt is consumed when thrown: the next checkpoint passes")
    func interruptConsumed() throws {
        let thread = try KillableThread { ctx -> Bool in
            do { try ctx.sleep(for: .seconds(3600)) } catch let kill as KillError where kill.reason == .interrupted {}
            try ctx.checkpoint()
            return true
        }
        try thread.interrupt()
        #expect(try thread.joinOrFail().value == true)
    }

    @Test("after 1,000 consumed interrupts, blocking reads are never woken by a stale signal", .timeLimit(.hang))
    func noStaleWakeups() throws {
        let pipe = Pipe()
        let consumed = Atomic<Int>(0)
        let reading = Latch()
        let thread = try KillableThread(name: "stale") { ctx -> [Int] in
            while consumed.load(ordering: .relaxed) < 1_000 {
                do { try ctx.checkpoint() } catch { consumed.add(1, ordering: .releasing) }
            }
            reading.open()
            var results: [Int] = []
            var byte: UInt8 = 0
            results.append(try ctx.blocking { Glibc.read(pipe.read, &byte, 1) })
            results.append(try withUnsafeMutableBytes(of: &byte) { try ctx.read(pipe.read, into: $0) })
            return results
        }
        for i in 0..<1_000 {
            try thread.interrupt()
            eventually("interrupt \(i) consumed") { consumed.load(ordering: .acquiring) > i }
        }
        reading.wait()
        var bytes: [UInt8] = [1, 2]
        #expect(Glibc.write(pipe.write, &bytes[0], 1) == 1)
        #expect(Glibc.write(pipe.write, &bytes[1], 1) == 1)
        #expect(try thread.joinOrFail().value == [1, 1])
    }

    @Test("foreign code outside regions never sees an EINTR from ThreadKill", .timeLimit(.hang))
    func noStrayEINTR() throws {
        let stop = Atomic(false)
        let thread = try KillableThread(tick: .milliseconds(1)) { ctx -> Int in
            var eintr = 0
            for _ in 0..<200 {
                var ts = timespec(tv_sec: 0, tv_nsec: 200_000)
                if nanosleep(&ts, nil) != 0 && errno == EINTR { eintr += 1 }
                do { try ctx.checkpoint() } catch {}
            }
            stop.store(true, ordering: .releasing)
            return eintr
        }
        while !stop.load(ordering: .acquiring) { try? thread.interrupt(); sched_yield() }
        #expect(try thread.joinOrFail().value == 0)
    }

    @Test("a thread printing through stdio while signalled loses no output", .timeLimit(.hang))
    func stdioLosesNothing() throws {
        let pipe = Pipe()
        let writeFD = dup(pipe.write)
        let lines = 20_000
        let writer = try KillableThread(name: "printer", tick: .milliseconds(1)) { ctx in
            let file = fdopen(writeFD, "w")!
            for i in 0..<lines {
                fputs("line \(i)\n", file)
                if i % 100 == 0 { do { try ctx.checkpoint() } catch {} }
            }
            fclose(file)
        }
        let reader = try KillableThread(name: "reader") { ctx -> Int in
            var count = 0
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = try buffer.withUnsafeMutableBytes { try ctx.read(pipe.read, into: $0) }
                if n == 0 { return count }
                count += buffer[..<n].filter { $0 == 10 }.count
                if count == lines { return count }
            }
        }
        while writer.state != .finished { try? writer.interrupt(); sched_yield() }
        _ = try writer.joinOrFail()
        #expect(try reader.joinOrFail().value == lines)
    }
}

@Suite("Raise, masks, budgets and ticks")
struct RaiseTests {
    @Test("raise delivers the exact error, and it comes back from join")
    func raiseExactError() throws {
        let started = Latch()
        let thread = try KillableThread { ctx in
            started.open()
            try ctx.sleep(for: .seconds(3600))
        }
        started.wait()
        #expect(try thread.raise(Boom(code: 9)))
        guard case .threw(let error) = try thread.joinOrFail() else {
            Issue.record("expected .threw")
            return
        }
        #expect(error as? Boom == Boom(code: 9))
    }

    @Test("the first raise wins; later ones are dropped and counted")
    func firstRaiseWins() throws {
        let go = Latch()
        let thread = try KillableThread { ctx -> Int in
            try ctx.masked {
                go.wait()
                return 0
            }
        }
        #expect(try thread.raise(Boom(code: 1)))
        #expect(try !thread.raise(Boom(code: 2)))
        #expect(thread.ref.droppedRaises == 1)
        go.open()
        guard case .threw(let error) = try thread.joinOrFail() else {
            Issue.record("expected .threw")
            return
        }
        #expect(error as? Boom == Boom(code: 1))
    }

    @Test("raising into the calling thread is refused")
    func raiseIntoSelf() throws {
        let thread = try KillableThread { ctx -> ThreadKillError.Code? in
            do { try ctx.thread.raise(Boom(code: 0)) } catch let e as ThreadKillError { return e.code }
            return nil
        }
        #expect(try thread.joinOrFail().value == .callingThread)
    }

    @Test("masked: checkpoints wait, interruptible calls still wake, the outermost end delivers")
    func maskedInterrupt() throws {
        let log = Mutex<[String]>([])
        let thread = try KillableThread { ctx in
            try ctx.masked {
                try ctx.thread.requestStop()
                try ctx.checkpoint()
                log.withLock { $0.append("checkpoint passed") }
                do { try ctx.sleep(for: .seconds(3600)) } catch { log.withLock { $0.append("sleep woke") } }
            }
            log.withLock { $0.append("unreachable") }
        }
        guard try thread.joinOrFail().report?.reason == .stopRequested else {
            Issue.record("expected a kill by a stop request")
            return
        }
        #expect(log.withLock { $0 } == ["checkpoint passed", "sleep woke"])
    }

    @Test("a CPU budget stops a runaway loop at its next checkpoint", .timeLimit(.hang))
    func cpuBudget() throws {
        let thread = try KillableThread(cpuBudget: .milliseconds(30)) { ctx -> UInt64 in
            var x: UInt64 = 1
            while true {
                for _ in 0..<10_000 { x = x &* 6364136223846793005 &+ 1 }
                try ctx.checkpoint()
            }
        }
        #expect(try thread.joinOrFail().report?.reason == .cpuBudgetExceeded)
    }

    @Test("a trace tick lets a stop reach a foreign read nobody signals", .timeLimit(.hang))
    func tickWakesForeignRead() throws {
        let pipe = Pipe()
        let tid = Atomic<Int32>(0)
        let thread = try KillableThread(tick: .milliseconds(1)) { ctx in
            tid.store(CPthreadShim_gettid(), ordering: .releasing)
            try ctx.blocking {
                var byte: UInt8 = 0
                _ = Glibc.read(pipe.read, &byte, 1)
            }
            try ctx.checkpoint()
        }
        eventually("thread started") { tid.load(ordering: .acquiring) != 0 }
        waitUntilInSyscall(tid: tid.load(ordering: .acquiring), Int(CPthreadShim_SYS_read))
        try thread.requestStop()  // sends no signal: only the tick can wake the read
        #expect(try thread.joinOrFail().report?.reason == .stopRequested)
    }

    @Test("too short a tick and negative budgets are refused")
    func badTraceOptions() {
        expectRefusal(.invalidArgument) { _ = try KillableThread(tick: .microseconds(1)) { _ in } }
        expectRefusal(.invalidDuration) { _ = try KillableThread(cpuBudget: .seconds(-1)) { _ in } }
    }
}
