import CPthreadShim
import Synchronization
import Testing
@testable import ThreadKill
import ThreadKillTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Reads a `timespec` at `address` in this process through `/proc/self/mem`,
/// which fails cleanly (instead of crashing) if the memory is gone.
func readTimespec(at address: UInt) -> timespec? {
    let fd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var value = timespec()
    let n = withUnsafeMutableBytes(of: &value) { pread(fd, $0.baseAddress, $0.count, off_t(Int(bitPattern: address))) }
    return n == MemoryLayout<timespec>.size ? value : nil
}

@Suite("Edges: bad input and long durations")
struct EdgeTests {
    // MARK: Stack size

    @Test("the smallest accepted stack size runs a body that takes every kind of kill; one byte less is refused",
          .timeLimit(.hang),
          .disabled(under: .thread, .address, because: "sanitizer frames are several times larger, so the floor does not hold; and the probe's ctx.read is not woken under TSan: Docs/Sanitizers.md"))
    func stackFloor() throws {
        let floor = KillableThreads.minimumStackSize
        #expect(floor >= 20 * 1024 + Int(CPthreadShim_signal_frame_size()))
        // In a fresh process each time: a too-small stack crashes the whole
        // process, and the first killable thread also does the runtime's
        // first-use work (the deepest stack the library causes).
        let smallest = try runFixture(["stack-floor", "\(floor)"])
        #expect(smallest.status == 0, "the smallest accepted stack crashed the process: status \(smallest.status)")
        #expect(smallest.output == "stopped, interrupts 3, cleanups 1\n")
        for refused in [floor - 1, 16 * 1024, 19_000] {
            let probe = try runFixture(["stack-floor", "\(refused)"])
            #expect(probe.status == 0 && probe.output == "refused invalidArgument\n", "stackSize \(refused): status \(probe.status), \(probe.output)")
        }
        do {
            _ = try KillableThread(stackSize: floor - 1) { _ in }
            Issue.record("stackSize \(floor - 1) was accepted")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message.contains("at least \(floor) bytes") && error.message.contains("minimumStackSize"), "\(error)")
        }
    }

    // MARK: Thread names

    @Test("every thread ThreadKill starts carries its name: watchdog, spawner, signal waiter, shutdown runner, cancellable-call helper",
          .timeLimit(.hang),
          .disabled(under: .thread, because: "the scenario ends a cancellable call, which TSan cannot survive: Docs/Sanitizers.md"))
    func serviceThreadNames() throws {
        // In a child process: it installs SIGTERM handling and counts every thread.
        let run = try runFixture(["thread-names"], signals: [SIGTERM])
        let lines = run.output.split(separator: "\n")
        func names(_ prefix: String) -> [String] {
            lines.first { $0.hasPrefix(prefix) }.map { $0.dropFirst(prefix.count).split(separator: ",").map(String.init) } ?? []
        }
        // Exactly these: the main thread keeps the program's name, and no
        // thread ThreadKill started is left with its creator's name.
        #expect(names("names: ") == ["ThreadKillFixtu", "threadkill-sig", "threadkill-spwn", "threadkill-wd",
                                     "tk-budgeted", "tk-cancellable", "tk-cancellable"], "\(run.output)")
        // The helper of a cancellable call carries its caller's name (the
        // kernel copies the creator's); the shutdown runner exists only after the signal.
        #expect(names("shutdown names: ").contains("threadkill-exit"), "\(run.output)")
        #expect(names("shutdown names: ").filter { $0 == "ThreadKillFixtu" }.count == 1, "\(run.output)")
        #expect((run.status >> 8) & 0xff == 128 + SIGTERM, "status \(run.status)")
    }

    // MARK: Cancellable sleeps

    @Test("a cancellable sleep of 71.6 minutes or more, up to Duration's maximum, sleeps in full until cancelled",
          .timeLimit(.hang),
          .disabled(under: .thread, because: "TSan defers a signal to a thread blocked in a raw syscall until it returns: Docs/Sanitizers.md"))
    func longCancellableSleep() throws {
        for (duration, seconds) in [(Duration.seconds(4295), 4295), (.seconds(Int64.max), Int.max), (.seconds(1 << 40) + .milliseconds(5), 1 << 40)] {
            let ownTID = Atomic<Int32>(0)
            let thread = try KillableThread(name: uniqueName("longnap")) { ctx in
                ownTID.store(CPthreadShim_gettid(), ordering: .releasing)
                try ctx.cancellableSleep(for: duration)
            }
            eventually("the thread of \(duration) started") { ownTID.load(ordering: .acquiring) != 0 }
            let tid = ownTID.load(ordering: .acquiring)
            waitUntilInSyscall(tid: tid, Int(SYS_clock_nanosleep))
            // The kernel was asked for the whole duration (before the fix,
            // 4295 s became 32.7 ms and Int64.max seconds about 21 minutes).
            let fields = syscallFields(tid: tid)
            let request = fields.count > 3 ? UInt(fields[3].dropFirst(2), radix: 16).flatMap(readTimespec(at:)) : nil
            #expect(request?.tv_sec == seconds, "\(duration): the kernel sleeps for \(String(describing: request))")
            // Lower-bound style: still asleep after a few hundred milliseconds.
            #expect(try thread.join(timeout: .milliseconds(300)) == nil, "\(duration): the sleep returned early")
            try thread.cancel()
            guard try thread.joinOrFail().report?.reason == .cancelled else {
                Issue.record("\(duration): expected a kill by a cancel")
                continue
            }
        }
    }

    @Test("a short cancellable sleep lasts at least as long as asked")
    func shortCancellableSleep() throws {
        let thread = try KillableThread { ctx -> Duration in
            let start = ContinuousClock.now
            try ctx.cancellableSleep(for: .milliseconds(50))
            return ContinuousClock.now - start
        }
        let slept = try #require(try thread.joinOrFail().value)
        #expect(slept >= .milliseconds(50))
        #expect(slept < hangBound)
    }
}
