import CPthreadShim
import Testing
@testable import ThreadKill
import ThreadKillTestSupport
#if canImport(Glibc)
import Glibc
#endif

@Suite("The signal", .serialized)
struct SignalTests {
    @Test("a signal someone else handles or ignores is refused with a typed error")
    func foreignSignalRefused() throws {
        _ = try KillableThread { _ in }.joinOrFail()  // installs ours first
        let foreign = CPthreadShim_sigrtmin() + 1
        #expect(foreign != KillableThreads.signal?.rawValue)
        var ignore = sigaction()
        ignore.__sigaction_handler.sa_handler = SIG_IGN
        var old = sigaction()
        sigaction(foreign, &ignore, &old)
        defer { sigaction(foreign, &old, nil) }
        expectRefusal(.signalInUse) { try KillableThreads.useSignal(Signal(foreign)) }
    }

    @Test("a different signal cannot be chosen once one is installed, and non-RT signals never")
    func signalChosenOnce() throws {
        _ = try KillableThread { _ in }.joinOrFail()
        let installed = try #require(KillableThreads.signal)
        try KillableThreads.useSignal(installed)  // the same one is fine
        let other = try Signal.realtime(3)
        #expect(other != installed)
        expectRefusal(.signalAlreadyChosen) { try KillableThreads.useSignal(other) }
        expectRefusal(.invalidArgument) { try KillableThreads.useSignal(.interrupt) }
        #expect(CPthreadShim_signal_state(installed.rawValue) == 1)
    }

    @Test("the handler is reported installed once a thread has started")
    func handlerReported() throws {
        _ = try KillableThread { _ in }.joinOrFail()
        #expect(KillableThreads.isSignalHandlerInstalled)
    }

    @Test("the handler ignores threads that are not killable", .timeLimit(.hang))
    func handlerIgnoresForeignThreads() throws {
        _ = try KillableThread { _ in }.joinOrFail()
        let signal = try #require(KillableThreads.signal)
        // A raw pthread: the default action of an RT signal would end the process.
        let received = Latch()
        let done = Latch()
        let thread = PlainThread.start { received.wait(); done.open() }
        for _ in 0..<100 { #expect(pthread_kill(thread.pthread, signal.rawValue) == 0) }
        received.open()
        done.wait()
        thread.join()
    }
}

@Suite("Thread lifecycle under load")
struct LifecycleTests {
    @Test("1,000 start/stop/join cycles leave no thread behind", .timeLimit(.hang))
    func startStopJoinCycles() throws {
        let name = uniqueName("cycle")
        for i in 0..<1_000 {
            let thread = try KillableThread(name: name) { ctx in
                try ctx.sleep(for: .seconds(3600))
            }
            if i % 2 == 0 { try? thread.requestStop() }  // may race its start: both are fine
            else {
                eventually("thread started") { thread.state != .starting }
                try thread.requestStop()
            }
            #expect(try thread.joinOrFail().report?.reason == .stopRequested)
        }
        #expect(!threadNames().contains(name))
        #expect(!KillableThreads.liveThreads.contains { $0.name == name })
    }

    @Test("a handle dropped without join detaches its thread, which then exits", .timeLimit(.hang))
    func droppedHandleDetaches() throws {
        let name = uniqueName("dropped")
        let started = Latch()
        let group = StopSource()
        do {
            _ = try KillableThread(name: name, stopToken: group.token) { ctx in
                started.open()
                try ctx.sleep(for: .seconds(3600))
            }
        }
        started.wait()
        #expect(threadNames().contains(name))
        group.requestStop()
        eventually("the detached thread exits") { !threadNames().contains(name) }
    }
}

@Suite("The Signal type")
struct SignalValueTests {
    @Test("a number that is no signal is refused: nil from init(rawValue:), invalidArgument from init(_:) and realtime(_:)")
    func badNumbersRefused() throws {
        let rtmax = CPthreadShim_sigrtmax()
        for bad in [0, -1, -15, Int32.min, rtmax + 1, Int32.max] {
            #expect(Signal(rawValue: bad) == nil, "\(bad)")
            expectRefusal(.invalidArgument) { _ = try Signal(bad) }
        }
        expectRefusal(.invalidArgument) { _ = try Signal.realtime(-1) }
        expectRefusal(.invalidArgument) { _ = try Signal.realtime(Int(rtmax - CPthreadShim_sigrtmin()) + 1) }
        // The edges are signals.
        #expect(Signal(rawValue: 1) == .hangup)
        #expect(Signal(rawValue: rtmax)?.isRealtime == true)
        #expect(try Signal.realtime(0).rawValue == CPthreadShim_sigrtmin())
    }

    @Test("useSignal refuses every signal that is not real-time, SIGKILL and SIGSTOP included, with invalidArgument")
    func nonRealtimeRefused() {
        for signal in [Signal.kill, .suspend, .terminate, .interrupt, .user1, .segmentationFault] {
            #expect(!signal.isRealtime)
            expectRefusal(.invalidArgument) { try KillableThreads.useSignal(signal) }
        }
    }

    @Test("a signal describes itself by its C name")
    func descriptions() throws {
        #expect("\(Signal.terminate)" == "SIGTERM")
        #expect("\(Signal.kill)" == "SIGKILL")
        #expect(Signal.terminate.rawValue == SIGTERM && Signal.kill.rawValue == SIGKILL)
        #expect("\(try Signal.realtime(3))" == "SIGRTMIN+3")
        #expect("\(try Signal(32))" == "signal 32")  // glibc's own, below SIGRTMIN
        for number in 1...CPthreadShim_sigrtmax() {
            let name = "\(try Signal(number))"
            #expect(name.hasPrefix("SIG") || number < CPthreadShim_sigrtmin(), "\(number): \(name)")
        }
    }
}
