import Synchronization
import Testing
@testable import ThreadKill
#if canImport(Glibc)
import Glibc
#endif

/// A stand-in for a C library with its own interrupt flag and a progress
/// callback, shaped like SQLite's `sqlite3_interrupt` and
/// `sqlite3_progress_handler`: a long call **clears the flag when it starts**,
/// so an interrupt that lands before the call is lost. (Docs/CooperativeStop.md,
/// "Bridging to a C library's own interrupt", shows this code.)
final class ProgressLibrary: Sendable {
    static let ok: Int32 = 0
    static let interrupted: Int32 = 9
    static let aborted: Int32 = 4

    private let interruptFlag = Atomic(false)

    /// `lib_interrupt(handle)`: asks the running call to stop.
    func interrupt() { interruptFlag.store(true, ordering: .releasing) }

    /// `lib_run(handle, steps, progress, context)`: `steps` units of work;
    /// before each, checks the flag and calls `progress(context)`, which
    /// aborts the call by returning nonzero. Returns the status and the steps done.
    func run(steps: Int, progress: @convention(c) (UnsafeMutableRawPointer?) -> Int32,
             context: UnsafeMutableRawPointer?) -> [Int] {
        interruptFlag.store(false, ordering: .relaxed)  // a new call: forget old interrupts
        for step in 0..<steps {
            if interruptFlag.load(ordering: .acquiring) { return [Int(Self.interrupted), step] }
            if progress(context) != 0 { return [Int(Self.aborted), step] }
            _ = spin(iterations: 100)
        }
        return [Int(Self.ok), steps]
    }
}

/// The race-free bridge: the library's progress callback reads the thread's
/// stop token. `context` is an unretained `StopTokenBox`.
let stopWhenRequested: @convention(c) (UnsafeMutableRawPointer?) -> Int32 = { context in
    let box = Unmanaged<StopTokenBox>.fromOpaque(context!).takeUnretainedValue()
    box.entered.store(true, ordering: .releasing)
    return box.token.isStopRequested ? 1 : 0
}

final class StopTokenBox: Sendable {
    let token: StopToken
    let entered = Atomic(false)
    init(_ token: StopToken) { self.token = token }
}

@Suite("Bridging to a C library's own interrupt")
struct LibraryInterruptTests {
    @Test("an onStop that calls the library's interrupt just before its call starts is lost: the call clears the flag")
    func onStopBeforeTheCallIsLost() throws {
        let library = ProgressLibrary()
        let thread = try KillableThread { ctx -> [Int] in
            let bridge = ctx.stopToken.onStop { library.interrupt() }
            defer { bridge.cancel() }
            // The stop lands after the bridge is registered and before the
            // library's call starts (here on purpose; in real code, by chance).
            try ctx.thread.requestStop()
            return library.run(steps: 1_000, progress: { _ in 0 }, context: nil)
        }
        // The call ran to its end: the interrupt was lost.
        #expect(try thread.joinOrFail().value == [Int(ProgressLibrary.ok), 1_000])
    }

    @Test("a progress callback that reads ctx.stopToken ends the call whether the stop came before or during it",
          .timeLimit(.hang))
    func progressCallbackIsRaceFree() throws {
        for stopBeforeTheCall in [true, false] {
            let library = ProgressLibrary()
            let published = Mutex<StopTokenBox?>(nil)
            let thread = try KillableThread { ctx -> [Int] in
                let tokenBox = StopTokenBox(ctx.stopToken)
                published.withLock { $0 = tokenBox }
                if stopBeforeTheCall { try ctx.thread.requestStop() }
                let result = withExtendedLifetime(tokenBox) {
                    library.run(steps: .max, progress: stopWhenRequested,
                                context: Unmanaged.passUnretained(tokenBox).toOpaque())
                }
                // The call was aborted: throw the stop. A thread's kill word is
                // set before its token reads stopped, so the checkpoint finds it.
                try ctx.checkpoint()
                return result
            }
            if !stopBeforeTheCall {
                eventually("the library called its progress callback") {
                    published.withLock { $0?.entered.load(ordering: .acquiring) ?? false }
                }
                try thread.requestStop()
            }
            guard try thread.joinOrFail().report?.reason == .stopRequested else {
                Issue.record("stop \(stopBeforeTheCall ? "before" : "during") the call: expected a kill by a stop request")
                continue
            }
        }
    }
}
