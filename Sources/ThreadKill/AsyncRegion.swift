import CPthreadShim
import Synchronization

extension KillContext {
    /// Runs `body` in an async region: a pending kill lands at once, anywhere
    /// in the region's own code — a runaway loop with no checkpoints included.
    ///
    /// When a kill arrives, the signal handler checks that jumping out is safe
    /// and, if so, `siglongjmp`s back here; the cleanups registered inside the
    /// region (``onKill(_:)``, ``withCleanup(_:_:)``, ``bracket(acquire:release:_:)``)
    /// run, and the kill is thrown. The thread lives on. The handler declines —
    /// and the watchdog resends until it may — while:
    /// - the thread is ``masked(_:)`` (ThreadKill's own locks mask for you);
    /// - the interrupted code changed the signal mask;
    /// - the PC is outside the program's own code: in libc, the dynamic loader,
    ///   the vDSO, the Swift runtime, Foundation, Dispatch, another library
    ///   (unless vouched for with ``ThreadKill/allowInjection(inLibrary:)``), or ThreadKill's shim;
    /// - any caller frame up to this region is such code (a `swift_once`
    ///   initializer, a `qsort` comparator, a `deinit` run by `swift_release`);
    /// - a Swift exclusive access began inside the region and is still open.
    ///
    /// Declines are counted by reason in ``ThreadRef/injectionStatistics``.
    ///
    /// - Important: A jump skips the Swift frames inside the region: their
    ///   `defer`s and `deinit`s do not run and values they own leak; locks they
    ///   took by hand stay held (take them in ``masked(_:)``); `@TaskLocal`
    ///   bindings made inside stay pushed; shared objects may be left half
    ///   updated. Read Docs/SafetyModel.md before using it.
    /// - Throws: The kill that landed, what `body` throws, or
    ///   ``ThreadKillError/Code/injectionUnavailable`` when the process cannot
    ///   support async regions (a statically linked Swift runtime, a
    ///   ThreadSanitizer or AddressSanitizer build, or an architecture without
    ///   the checks).
    public func asyncKillable<R>(_ body: @escaping () throws -> R) throws -> R {
        Injection.refreshRanges()
        try Injection.ensureAvailable()
        let depth = cleanups.depth
        let region = AsyncBody { [self] () throws -> R in
            try checkpoint()  // the region is published: a kill posted before now is seen here
            return try body()
        }
        let landed = CPthreadShim_async_run(core.block, { arg in
            Unmanaged<AsyncBodyBase>.fromOpaque(arg!).takeUnretainedValue().run()
        }, Unmanaged.passUnretained(region).toOpaque())
        cleanups.unwind(to: depth, block: core.block)
        if landed != 0 {
            if let kill = core.takeKill() { throw kill }
            throw KillError(reason: .interrupted)  // the kill was consumed meanwhile
        }
        return try withExtendedLifetime(region) { try region.result!.get() }
    }
}

/// What the C trampoline calls; type-erased so one `@convention(c)` thunk serves.
class AsyncBodyBase {
    func run() {}
}

final class AsyncBody<R>: AsyncBodyBase {
    private let body: () throws -> R
    var result: Result<R, any Error>?

    init(_ body: @escaping () throws -> R) { self.body = body }

    override func run() { result = Result { try body() } }
}
