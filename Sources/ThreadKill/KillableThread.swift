#if canImport(Glibc)
import Glibc
#endif
import CPthreadShim
import Synchronization

/// A real pthread running a Swift body that can be stopped from outside.
///
/// The body receives a ``KillContext``: its delivery points (``KillContext/checkpoint()``,
/// ``KillContext/sleep(for:)``, ``KillContext/wait(on:until:timeout:then:)``) are where
/// kills arrive. ``join()`` returns an ``Outcome``.
///
/// ```swift
/// let worker = try KillableThread(name: "worker") { ctx in
///     while true {
///         try ctx.checkpoint()
///         print("thread running")
///         try ctx.sleep(for: .milliseconds(100))
///     }
/// }
/// try worker.requestStop()
/// print(try worker.join())   // stopped: stop requested ...
/// ```
///
/// A handle that is dropped without ``join()`` detaches the thread, which then
/// cleans up after itself; it never leaks. What the body captured is released
/// when the thread ends, whether or not the handle is still held.
public final class KillableThread<Value: Sendable>: Sendable {
    let core: ThreadCore
    @usableFromInline let box: OutcomeBox<Value>
    private let pthread: pthread_t
    private let reaped = Mutex(false)

    /// Starts a thread running `body`.
    ///
    /// - Parameters:
    ///   - name: Shown in `/proc/self/task/*/comm` (cut to 15 bytes there, between
    ///     Unicode scalars) and in ``KillableThreads/liveThreads``.
    ///   - stackSize: Bytes of stack, as `pthread_attr_setstacksize` takes them;
    ///     nil for the system default. At least ``KillableThreads/minimumStackSize``
    ///     (about 25 KB): less would overflow in the Swift runtime's first-use
    ///     work or when a signal is delivered, crashing the whole process.
    ///   - daemon: Whether the thread may be abandoned when the program exits.
    ///   - stopToken: A token whose stop also stops this thread (for groups).
    ///   - cpuBudget: CPU time the thread may use; past it, a ``KillError`` with
    ///     reason ``KillError/Reason/cpuBudgetExceeded`` is delivered.
    ///   - tick: A trace tick: a kernel timer that runs the signal handler on the
    ///     thread at this period, so its kill word is examined even when nobody
    ///     signals it (inside blocking regions and other receptive code).
    ///   - body: The work. It runs on the new thread with that thread's context.
    /// - Throws: ``ThreadKillError`` if the stack size is invalid, the signal
    ///   cannot be installed, or `pthread_create` fails.
    public init(
        name: String = "killable",
        stackSize: Int? = nil,
        daemon: Bool = false,
        stopToken: StopToken? = nil,
        cpuBudget: Duration? = nil,
        tick: Duration? = nil,
        _ body: @escaping @Sendable (KillContext) throws -> Value
    ) throws(ThreadKillError) {
        if let stackSize { try StackFloor.check(stackSize) }
        let budget = try cpuBudget?.validatedNanos("cpuBudget")
        let tickNanos = try tick?.validatedNanos("tick")
        if let tickNanos, tickNanos < 100_000 {
            throw ThreadKillError(.invalidArgument, "tick must be at least 100 µs, got \(tick!)")
        }
        _ = try SignalSetup.ensureInstalled()
        KillableThreads.installExitHook()
        ForkSafety.install()
        let core = ThreadCore(name: name, daemon: daemon, stopToken: stopToken, tickNanos: tickNanos)
        // Made here, not on the new thread: an idle thread that never calls
        // malloc costs no per-thread malloc cache (glibc's tcache).
        let cleanups = CleanupStack(core: core)
        let box = OutcomeBox(core: core, cleanups: cleanups, body: body)
        Registry.insert(core)
        var thread = pthread_t()
        // The thread's own reference, released when it ends.
        let err = CPthreadShim_pthread_create(&thread, stackSize ?? 0, threadEntry, Unmanaged<ThreadStart>.passRetained(box).toOpaque())
        if err != 0 {
            Unmanaged.passUnretained(box).release()
            Registry.remove(core)
            core.abandonUnstarted()
            if err == EINVAL { throw ThreadKillError(.invalidArgument, errno: err, "pthread_create refused the stack size \(stackSize ?? 0): glibc takes the thread's control block and the program's static thread-local storage out of it; ask for more") }
            throw .system("pthread_create", err)
        }
        self.core = core
        self.box = box
        self.pthread = thread
        if let budget { Watchdog.shared.watchBudget(of: core, limit: budget) }
    }

    deinit {
        reaped.withMaskedLock { reaped in
            if !reaped { pthread_detach(pthread) }
        }
    }

    /// A non-generic reference to this thread, for lists and registries.
    public var ref: ThreadRef { ThreadRef(core: core) }

    /// The thread's name as given.
    public var name: String { core.name }
    /// Unique within the process, never reused.
    public var id: UInt64 { core.id }
    /// Where the thread is in its life.
    public var state: ThreadState { ref.state }

    /// Requests a cooperative stop (the seed's stop flag and stop event).
    /// See ``ThreadRef/requestStop()``.
    public func requestStop() throws(ThreadKillError) { try ref.requestStop() }

    /// Interrupts the thread's current or next interruptible call.
    /// See ``ThreadRef/interrupt()``.
    public func interrupt() throws(ThreadKillError) { try ref.interrupt() }

    /// Cancels the thread's current or next cancellable C call.
    /// See ``ThreadRef/cancel()``.
    public func cancel() throws(ThreadKillError) { try ref.cancel() }

    /// Raises `error` inside the thread. See ``ThreadRef/raise(_:)``.
    @discardableResult
    public func raise(_ error: any Error) throws(ThreadKillError) -> Bool { try ref.raise(error) }

    /// Waits for the thread to end and returns how it ended.
    ///
    /// Any number of threads may join, any number of times: each gets the same outcome.
    /// - Throws: ``ThreadKillError/Code/callingThread`` when called from the thread itself.
    @available(*, noasync, message: "join() blocks its thread until the thread ends; from async code use the async join(onCancel:) or value")
    @inlinable  // builds the `Outcome` in the caller, specialized: no run-time generic metadata lookups
    public func join() throws(ThreadKillError) -> Outcome<Value> {
        box.outcome(try joinedEnding(timeout: nil)!)
    }

    /// Waits at most `timeout` for the thread to end.
    ///
    /// - Returns: The outcome, or nil if the thread is still running.
    /// - Throws: ``ThreadKillError/Code/invalidDuration`` for a negative timeout,
    ///   ``ThreadKillError/Code/callingThread`` when called from the thread itself.
    @available(*, noasync, message: "join(timeout:) blocks its thread; from async code use the async join(timeout:onCancel:)")
    @inlinable
    public func join(timeout: Duration) throws(ThreadKillError) -> Outcome<Value>? {
        try joinedEnding(timeout: timeout).map(box.outcome)
    }

    /// Waits for the end (at most `timeout`, if given) and reaps the thread:
    /// how the body ended, or nil if it is still running. Nothing here depends on `Value`.
    @usableFromInline
    func joinedEnding(timeout: Duration?) throws(ThreadKillError) -> Ending? {
        let deadline = try timeout.map { (t) throws(ThreadKillError) in Deadline(after: try t.validatedNanos("join(timeout:)")) } ?? .never
        if core.isCurrentThread { throw .callingThread("join()") }
        if !core.existsHere { throw .notInThisProcess("join()") }
        // An untimed join waits once, in pthread_join: the thread's end wakes
        // it (the kernel's exit futex), with no condition-lock wait before it.
        // A timed join waits on the condition lock (pthread_join has no
        // deadline); once the thread has published its end, pthread_join
        // returns at once.
        if deadline.nanos != nil {
            guard core.waitDone(until: deadline) else { return nil }
        }
        reaped.withMaskedLock { reaped in
            if !reaped {
                pthread_join(pthread, nil)
                reaped = true
            }
        }
        return box.ending
    }
}

/// Where a killable thread is in its life.
public enum ThreadState: String, Sendable {
    /// Created; its body has not started yet.
    case starting
    /// Running its body.
    case running
    /// Running, with a stop requested; or leaving its body.
    case stopping
    /// Done: ``KillableThread/join()`` returns at once.
    case finished
}

/// How a body ended, without the value it returned. Not generic: the thread
/// ends (by a kill, above all) with no generic metadata lookups, which an
/// unspecialized `Outcome<Value>` costs at every use.
@usableFromInline
enum Ending: Sendable {
    case returned
    case threw(any Error)
    case killed(KillReport)

    var report: KillReport? {
        if case .killed(let report) = self { return report }
        return nil
    }

    var ownError: (any Error)? {
        if case .threw(let error) = self { return error }
        return nil
    }
}

/// What the new thread runs, and how it ended: one object, made by the
/// creator and shared by the thread and its handle.
///
/// The handle holds it, and the thread holds a reference while it runs. A
/// joined thread therefore frees nothing at its end: its handle, on the
/// joining thread, releases the object last. (A thread's first `free` sets up
/// glibc's per-thread malloc cache, taking an arena, and its exit tears it
/// down again.) The thread drops its body itself, so what the body captured
/// is released when the thread ends. One object rather than a start object
/// beside an outcome box: a malloc and a run-time generic metadata lookup
/// less per thread.
@usableFromInline
class ThreadStart: @unchecked Sendable {  // immutable; subclasses say what they guard
    let core: ThreadCore
    init(core: ThreadCore) { self.core = core }
    /// Runs the body and publishes its outcome.
    func run() { fatalError("overridden") }
    /// Releases what the body captured.
    func dropBody() { fatalError("overridden") }
}

/// The thread's body, and its outcome: its ``Ending``, and the value if it
/// returned one.
@usableFromInline
final class OutcomeBox<Value: Sendable>: ThreadStart, @unchecked Sendable {  // `body`: the thread's only; `value`, `published`: written once, before `isPublished`
    let cleanups: CleanupStack
    private var body: (@Sendable (KillContext) throws -> Value)?
    /// Written once by the thread before ``publish(_:)``, read only after
    /// ``ending`` was seen non-nil.
    @usableFromInline private(set) var value: Value?
    private var published: Ending?
    /// Set (releasing) after `published` was written: a flag, not a lock, so
    /// the thread's end takes no lock here (nor the `gettid` system call a
    /// new thread's first `Mutex` lock makes).
    private let isPublished = Atomic<Bool>(false)

    init(core: ThreadCore, cleanups: CleanupStack, body: @escaping @Sendable (KillContext) throws -> Value) {
        self.cleanups = cleanups
        self.body = body
        super.init(core: core)
    }

    /// Once only, by the thread.
    private func publish(_ ending: Ending) {
        published = ending
        isPublished.store(true, ordering: .releasing)
    }

    /// How the body ended, once it has.
    var ending: Ending? { isPublished.load(ordering: .acquiring) ? published : nil }

    func get() -> Outcome<Value>? { ending.map(outcome) }

    /// The outcome of a published `ending`. Inlinable, so that a caller that
    /// knows `Value` builds it specialized.
    @inlinable
    func outcome(_ ending: Ending) -> Outcome<Value> {
        switch ending {
        case .returned: return .returned(value!)
        case .threw(let error): return .threw(error)
        case .killed(let report): return .killed(report)
        }
    }

    override func run() {
        let ending = runBody(body!)
        KillEvents.ended(ending, on: core)
        publish(ending)
    }

    override func dropBody() { body = nil }

    /// Runs the body; a returned value goes into `value`, unpublished, and the
    /// rest of the outcome is returned (published once the cleanups ran).
    /// An instance method, not a static one of `KillableThread<Value>`: that
    /// type's metadata would be looked up at run time on every thread.
    private func runBody(_ body: @Sendable (KillContext) throws -> Value) -> Ending {
        // The context holds both unowned: this frame keeps them alive while the body runs.
        let ctx = KillContext(core: core, cleanups: cleanups)
        // The thread is the outermost cleanup scope: what `onKill` registered
        // outside any async region runs when the body ends.
        defer { withExtendedLifetime((core, cleanups)) { cleanups.unwind(to: 0, block: core.block) } }
        do {
            value = try body(ctx)
            return .returned
        } catch {
            guard let kill = error as? KillError else { return .threw(error) }
            let report = KillReport(kill: kill, endedAt: monotonicNanos(), timesThrown: ctx.core.recordEnding(by: kill, thrown: error))
            return .killed(report)
        }
    }
}

private func threadEntry(_ arg: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    let start = Unmanaged<ThreadStart>.fromOpaque(arg!).takeRetainedValue()
    start.core.threadMain { start.run() }
    start.dropBody()
    return nil
}
