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
    ///   (unless vouched for with ``KillableThreads/allowInjection(inLibrary:)``),
    ///   ThreadKill's shim, or code in no loaded object (JIT-compiled code:
    ///   run a JIT engine in an ``IsolatedProcess`` to stop it);
    /// - any caller frame up to this region is such code (a `swift_once`
    ///   initializer, a `qsort` comparator, a `deinit` run by `swift_release`);
    /// - a Swift exclusive access began inside the region and is still open.
    ///
    /// Declines are counted by reason in ``ThreadRef/injectionStatistics``.
    ///
    /// - Important: A jump skips the Swift frames inside the region: their
    ///   `defer`s and `deinit`s do not run and values they own leak (ThreadKill's
    ///   own frames among them own nothing; yours do); locks they
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
        let region = RegionBody(body, block: core.block)
        defer { region.release() }
        while true {
            // Masked until the region's frame has taken the body (RegionBody.run).
            CPthreadShim_mask_add(core.block, 1)
            let landed = CPthreadShim_async_run(core.block, { arg in
                // +0: this frame is skipped by a jump, so it must own nothing.
                Unmanaged<RegionBodyBase>.fromOpaque(arg!)._withUnsafeGuaranteedRef { $0.run() }
            }, Unmanaged.passUnretained(region).toOpaque())
            if landed == 0 { CPthreadShim_mask_add(core.block, -1) }  // a jump lands unmasked
            cleanups.unwind(to: depth, block: core.block)
            if landed != 0 {
                // Still masked by the handler (CPthreadShim_async.c): an outer
                // region must not take this kill before this landing has.
                region.landed(body)
                let kill = core.takeKill()
                CPthreadShim_mask_add(core.block, -1)
                if let kill {
                    KillEvents.delivering(kill, on: core)
                    throw kill
                }
                throw KillError(reason: .interrupted)  // the kill was consumed meanwhile
            }
            if let result = region.result { return try result.get() }
            // A kill was pending when the region opened: throw it here, outside.
            try checkpoint()
            region.skipEntryCheck = true  // it was consumed meanwhile: run the body after all
        }
    }
}

/// What the C trampoline calls; type-erased so one `@convention(c)` thunk serves.
class RegionBodyBase {
    func run() {}
}

/// One async region's body and result, shaped so that the frames a jump skips
/// own nothing but one reference to the body — which the landing releases.
///
/// A jump skips every frame between `CPthreadShim_async_run` and the
/// interrupted instruction without running their releases. Anything those
/// frames retained stays retained for ever, and with it everything it holds
/// (this box, the body's captures, the thread's context and control block:
/// about 1.3 KB per killed thread before this layout). So:
/// - the thunk reaches this object at +0 (`_withUnsafeGuaranteedRef`);
/// - `run()` *moves* the body out of `slot` (a move never retains) and calls
///   it through a `borrowing` parameter (never copied, even at `-Onone`, where
///   a closure loaded from a property or passed as a plain parameter is
///   retained for the call);
/// - every step that changes who owns the body runs masked, so a jump can only
///   land while the skipped frame owns exactly that one reference;
/// - after a jump, `landed()` releases it.
final class RegionBody<R>: RegionBodyBase {
    /// The body. It owns one reference, except while `run()` has moved it out.
    private let slot: UnsafeMutablePointer<() throws -> R>
    private let block: UnsafeMutablePointer<CPthreadShim_block>
    /// How the body ended, or nil if it did not run.
    private(set) var result: Result<R, any Error>?
    /// Run the body even though a kill is pending (it was consumed meanwhile).
    var skipEntryCheck = false

    init(_ body: @escaping () throws -> R, block: UnsafeMutablePointer<CPthreadShim_block>) {
        slot = .allocate(capacity: 1)
        slot.initialize(to: body)
        self.block = block
    }

    /// Runs inside the region, entered masked (one level is ours).
    override func run() {
        // The region is published: a kill posted before now is seen here,
        // and thrown by `asyncKillable`, outside the region. Sequentially
        // consistent, as the region's store: either this load sees the
        // sender's bit or the sender sees the region and signals.
        if !skipEntryCheck && CPthreadShim_kill_load_seq_cst(block) != 0
            && CPthreadShim_mask_depth(block) == 1 && CPthreadShim_uninterruptible_depth(block) == 0 {
            return
        }
        let body = slot.move()
        CPthreadShim_mask_add(block, -1)  // from here until the next mask, a kill may jump
        let outcome = invoke(body)
        CPthreadShim_mask_add(block, 1)
        slot.initialize(to: consume body)
        result = outcome
    }

    /// After a jump: the skipped `run()` owned the body's reference, and a
    /// move leaves the bits in place, so the slot holds that reference again.
    /// The bits are copied from `body` (the same closure) anyway, so this does
    /// not rest on what a move leaves behind.
    func landed(_ body: @escaping () throws -> R) {
        withUnsafeBytes(of: body) { bytes in
            UnsafeMutableRawPointer(slot).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        }
    }

    /// Releases the body's one reference (back in the slot however the region
    /// ended) and the slot.
    func release() {
        slot.deinitialize(count: 1)
        slot.deallocate()
    }
}

/// Calls `body` without retaining it: a `borrowing` parameter is called in
/// place, at every optimization level.
@inline(never)
private func invoke<R>(_ body: borrowing @escaping () throws -> R) -> Result<R, any Error> {
    do {
        return .success(try body())
    } catch {
        return .failure(error)
    }
}
