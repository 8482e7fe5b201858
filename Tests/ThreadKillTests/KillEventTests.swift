import CPthreadShim
import CThreadKillTestSupport
import Synchronization
import Testing
@testable import ThreadKill
#if canImport(Glibc)
import Glibc
#endif

/// Records the events of the threads whose names start with `prefix` (other
/// suites' threads run in the same process at the same time).
final class EventRecorder: Sendable {
    let prefix: String
    private let events = Mutex<[KillEvent]>([])

    init(prefix: String) { self.prefix = prefix }

    func record(_ event: KillEvent) {
        guard let thread = event.thread, thread.name.hasPrefix(prefix) else { return }
        events.withLock { $0.append(event) }
    }

    var recorded: [KillEvent] { events.withLock { $0 } }
    /// Each event as "kind: detail" without the thread, for comparing sequences.
    var kinds: [KillEvent.Kind] { recorded.map(\.kind) }
}

/// Installs `recorder` as the hook for the duration of `body`.
func withEventHook<R>(_ recorder: EventRecorder, _ body: () throws -> R) rethrows -> R {
    KillableThreads.eventHook = { recorder.record($0) }
    defer { KillableThreads.eventHook = nil }
    return try body()
}

// Serialized: the hook is process-wide and one test removes it to show that nothing is reported.
@Suite("Kill events", .serialized)
struct KillEventTests {
    @Test("a ladder's stop reports the step, the request, the delivery and the end, in order, with one kill id", .timeLimit(.hang))
    func ladderStopInOrder() throws {
        let recorder = EventRecorder(prefix: uniqueName("events"))
        try withEventHook(recorder) {
            let sleeping = Latch()
            let thread = try KillableThread(name: recorder.prefix) { ctx in
                sleeping.open()
                try ctx.sleep(for: .seconds(3600))
            }
            sleeping.wait()
            let result = try thread.stop(grace: hangBound)
            #expect(result.report.stopped)
            let events = recorder.recorded
            #expect(events.map(\.kind) == [.escalated, .requested, .delivered, .ended], "\(events)")
            guard events.count == 4 else { return }
            #expect(events[0].step == .requestStop)
            let kill = try #require(events[1].kill)
            #expect(kill.reason == .stopRequested)
            #expect(events[2].kill == kill)
            #expect(events[3].report?.killID == kill.id)
            #expect(events[3].report?.reason == .stopRequested)
            #expect(events.allSatisfy { $0.thread == thread.ref })
        }
    }

    @Test("a kill declined in a masked part of an async region is reported with its reason before its delivery",
          .disabled(under: .thread, .address, because: "async regions are refused under sanitizers (injectionUnavailable): Docs/Sanitizers.md"),
          .timeLimit(.hang))
    func declinedBeforeDelivered() throws {
        let recorder = EventRecorder(prefix: uniqueName("declines"))
        try withEventHook(recorder) {
            let me = Mutex<ThreadRef?>(nil)
            let masked = Latch()
            let thread = try KillableThread(name: recorder.prefix) { ctx in
                try ctx.asyncKillable {
                    try ctx.masked {
                        masked.open()
                        // Spins masked until the handler has declined at least once.
                        while (me.withLock { $0 }?.injectionStatistics.declines[.masked] ?? 0) == 0 { _ = spin(iterations: 1000) }
                    }
                }
            }
            me.withLock { $0 = thread.ref }
            masked.wait()
            try thread.interrupt()
            let outcome = try thread.joinOrFail()
            #expect(outcome.report?.reason == .interrupted)
            let events = recorder.recorded
            #expect(events.map(\.kind) == [.requested, .declined, .delivered, .ended], "\(events)")
            guard events.count == 4 else { return }
            #expect(events[0].kill?.reason == .interrupted)
            #expect(events[1].declineReason == .masked)
            #expect(events[1].count >= 1)
            #expect(events[2].kill == events[0].kill)
            #expect(events[3].report?.killID == events[0].kill?.id)
        }
    }

    @Test("a cancel that acts on a blocked C call is reported as requested, then delivered",
          .disabled(under: .thread, because: "TSan aborts the process when a thread it tracks is unwound by pthread_cancel inside an interceptor (\"thread finished with ignores enabled\"): Docs/Sanitizers.md"),
          .timeLimit(.hang))
    func cancelReported() throws {
        let recorder = EventRecorder(prefix: uniqueName("cancels"))
        try withEventHook(recorder) {
            let blocked = Latch()
            let thread = try KillableThread(name: recorder.prefix) { ctx in
                blocked.open()
                // An hour in a C call with no interceptor of any sanitizer (the Cancel suite's leaf).
                var micros = 3_600_000_000
                _ = try withUnsafeMutablePointer(to: &micros) { try ctx.cancellableCall(tk_test_leaf_usleep, argument: $0) }
            }
            blocked.wait()
            try thread.cancel()
            let outcome = try thread.joinOrFail()
            #expect(outcome.report?.reason == .cancelled)
            let events = recorder.recorded
            #expect(events.map(\.kind) == [.requested, .delivered, .ended], "\(events)")
            #expect(events.compactMap(\.kill?.reason) == [.cancelled, .cancelled])
        }
    }

    @Test("a body that returns or throws its own error is reported as ended, with no kill", .timeLimit(.hang))
    func endedWithoutKill() throws {
        struct Failure: Error {}
        let recorder = EventRecorder(prefix: uniqueName("ends"))
        try withEventHook(recorder) {
            _ = try KillableThread(name: recorder.prefix + "-r") { _ in 1 }.joinOrFail()
            _ = try KillableThread(name: recorder.prefix + "-t") { _ in throw Failure() }.joinOrFail()
        }
        let events = recorder.recorded
        #expect(events.map(\.kind) == [.ended, .ended], "\(events)")
        #expect(events.allSatisfy { $0.report == nil })
        #expect(events.map { $0.error is Failure } == [false, true])
    }

    @Test("with the hook unset, a kill reports nothing to a hook that was removed", .timeLimit(.hang))
    func unsetHookReportsNothing() throws {
        let recorder = EventRecorder(prefix: uniqueName("unset"))
        KillableThreads.eventHook = { recorder.record($0) }
        KillableThreads.eventHook = nil
        #expect(KillableThreads.eventHook == nil)
        let isOn = KillEvents.isOn.load(ordering: .relaxed)
        #expect(!isOn)
        let sleeping = Latch()
        let thread = try KillableThread(name: recorder.prefix) { ctx in
            sleeping.open()
            try ctx.sleep(for: .seconds(3600))
        }
        sleeping.wait()
        #expect(try thread.stop(grace: hangBound).report.stopped)
        #expect(recorder.recorded.isEmpty)
    }

    @Test("a whole process reports an abandoned resend after its declines, a replaced signal handler, and an exit-policy stop",
          .disabled(under: .thread, .address, because: "async regions are refused under sanitizers (injectionUnavailable): Docs/Sanitizers.md"),
          .timeLimit(.hang))
    func processWideEvents() throws {
        let (status, output) = try runFixture(["events"])
        #expect(status == 0, "\(output)")
        let lines = output.split(separator: "\n").map(String.init)
        func index(_ line: String) -> Int? { lines.firstIndex(of: line) }
        // The stuck thread: its interrupt is declined until the watchdog gives up; it lands when the mask ends.
        let stuck = ["requested stuck", "declined stuck (masked)", "resends abandoned stuck", "delivered stuck", "ended stuck"].map(index)
        #expect(stuck.allSatisfy { $0 != nil }, "\(output)")
        #expect(stuck.compactMap { $0 } == stuck.compactMap { $0 }.sorted(), "\(output)")
        // The signal ignored: the resends never land, and the watchdog notices the handler is gone.
        #expect(index("resends abandoned blind") != nil, "\(output)")
        #expect(index("signal handler replaced") != nil, "\(output)")
        // main returned with a non-daemon thread asleep: the exit policy stops it.
        let sleeper = ["exiting", "exit-policy stop sleeper", "escalated sleeper", "requested sleeper", "delivered sleeper", "ended sleeper"].map(index)
        #expect(sleeper.allSatisfy { $0 != nil }, "\(output)")
        #expect(sleeper.compactMap { $0 } == sleeper.compactMap { $0 }.sorted(), "\(output)")
    }
}
