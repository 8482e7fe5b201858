#if canImport(Glibc)
import Glibc
#endif
import CPthreadShim
import Synchronization

/// Process-wide operations on killable threads: the live threads, lookups,
/// the signal, vouched libraries, the exit policy and shutdown.
///
/// Not named after the module, so that `ThreadKill.KillableThread` (the
/// module-qualified name) always works, even in a program that declares a
/// `KillableThread` of its own.
public enum KillableThreads {
    /// Every killable thread that has not finished, oldest first.
    public static var liveThreads: [ThreadRef] {
        Registry.all.map(ThreadRef.init(core:))
    }

    /// The calling thread, if ThreadKill started it.
    public static var currentThread: ThreadRef? {
        guard let block = CPthreadShim_thread_block() else { return nil }
        return Registry.all.first { $0.block == block }.map(ThreadRef.init(core:))
    }

    /// The killable thread behind a `pthread_t`.
    ///
    /// - Throws: ``ThreadKillError/Code/mainThread`` for the main thread,
    ///   ``ThreadKillError/Code/notOwned`` for any thread ThreadKill did not start
    ///   (Dispatch and Swift-concurrency pool threads block every real-time
    ///   signal, so no kill could reach them), or that has already finished.
    public static func thread(for pthread: pthread_t) throws(ThreadKillError) -> ThreadRef {
        if CPthreadShim_is_main_thread(pthread) != 0 {
            throw ThreadKillError(.mainThread, "the main thread is never a kill target; stop the program instead")
        }
        guard let core = Registry.all.first(where: { $0.pthread.map { pthread_equal($0, pthread) != 0 } ?? false }) else {
            throw ThreadKillError(.notOwned, "thread \(pthread) was not started by ThreadKill (or has finished); only KillableThreads can be targets")
        }
        return ThreadRef(core: core)
    }

    /// Vouches for a library: a kill may jump out of an async region while
    /// the thread runs that library's code (a regex engine backtracking, a
    /// solver), as long as every other check still holds — malloc and the
    /// Swift runtime below it are still refused.
    ///
    /// The name is matched as the **start of a shared object's file name**
    /// (`"libpcre2-8"` matches `/usr/lib/x86_64-linux-gnu/libpcre2-8.so.0`),
    /// never as a substring of its path. It applies to the libraries loaded
    /// now and to those loaded later, so a name that matches nothing yet is
    /// not an error: check the returned paths to catch a typo.
    ///
    /// A jump out of the library leaks what its skipped frames allocated.
    /// Allocate what it works on (PCRE2's match data, say) outside the region
    /// and free it in ``KillContext/onKill(_:)``: see Docs/SafetyModel.md.
    ///
    /// - Parameter name: The start of the library's file name, such as
    ///   `"libpcre2-8"`; it must begin with `lib` and contain no `/`.
    /// - Returns: The paths of the loaded libraries the name matches now; empty
    ///   if none is loaded yet (or the name is misspelled).
    /// - Throws: ``ThreadKillError/Code/invalidArgument`` for a name that is not
    ///   the start of a library's file name, or that covers libc, the loader,
    ///   the Swift runtime, Foundation or Dispatch, which can never be vouched for.
    @discardableResult
    public static func allowInjection(inLibrary name: String) throws(ThreadKillError) -> [String] {
        try Injection.vouch(for: name)
    }

    /// How long the watchdog resends the signal for a kill the target has not
    /// taken yet (one signal in flight at a time, 200–300 µs apart; while the
    /// last one is still in flight, it looks less often, up to every 6.4 ms).
    /// Default 5 s.
    /// A kill declined inside an async region is retried by the thread's own
    /// timer, until 10 ms after this window (with zero, 10 ms after the kill);
    /// the watchdog's first resend to such a thread comes only 5 ms after the kill.
    /// - Precondition: Not negative.
    public static var resendWindow: Duration {
        get { .nanoseconds(Watchdog.resendWindow.load(ordering: .relaxed)) }
        set {
            precondition(newValue >= .zero, "resendWindow must not be negative")
            Watchdog.resendWindow.store(newValue.nonNegativeNanos ?? 0, ordering: .relaxed)
        }
    }

    /// The real-time signal ThreadKill uses, once installed (at the first thread start).
    public static var signal: Signal? { SignalSetup.current.map(Signal.init(unchecked:)) }

    /// Whether ThreadKill's signal handler is installed and still its own. A
    /// program (or library) that replaces the handler of ``signal`` afterwards
    /// breaks every signal-based kill; the watchdog re-checks this whenever a
    /// kill was resent for a whole ``resendWindow`` without landing.
    public static var isSignalHandlerInstalled: Bool { SignalSetup.isHandlerInstalled }

    /// Chooses the real-time signal ThreadKill uses, instead of the probed one
    /// (or the `THREADKILL_SIGNAL` environment variable). Call it before the first
    /// ``KillableThread`` starts.
    ///
    /// - Throws: ``ThreadKillError/Code/signalInUse`` if someone else handles
    ///   or ignores `signal`; ``ThreadKillError/Code/signalAlreadyChosen`` if a
    ///   different signal is already installed; ``ThreadKillError/Code/invalidArgument``
    ///   if `signal` is not a real-time signal (``Signal/isRealtime``), such as
    ///   ``Signal/kill`` or ``Signal/suspend``.
    public static func useSignal(_ signal: Signal) throws(ThreadKillError) {
        try SignalSetup.use(signal.rawValue)
    }
}
