import CPthreadShim

/// The thread's cleanup stack: closures that run exactly once, however the
/// scope that registered them ends — by returning, throwing, or a kill that
/// jumps out of an async region (which skips Swift `defer`s and `deinit`s).
/// Owned by one thread; its context is its only handle.
final class CleanupStack {
    private var entries: [() -> Void] = []
    private let core: ThreadCore

    init(core: ThreadCore) { self.core = core }

    var depth: Int { entries.count }

    /// Pushes a cleanup; kills wait meanwhile, so the push is never torn.
    /// Masked by hand, not with `withMask`: its closure would retain `self`
    /// outside the mask (InternalMask.swift). So is `unwind`.
    func push(_ cleanup: @escaping () -> Void, block: UnsafeMutablePointer<CPthreadShim_block>) {
        CPthreadShim_mask_add(block, 1)
        entries.append(cleanup)
        CPthreadShim_mask_add(block, -1)
    }

    /// Runs, newest first, every cleanup above `depth`. Each is removed before
    /// it runs, and the whole unwinding is uninterruptible: a kill cannot run a
    /// cleanup twice or skip one.
    func unwind(to depth: Int, block: UnsafeMutablePointer<CPthreadShim_block>) {
        CPthreadShim_mask_add(block, 1)
        CPthreadShim_uninterruptible_add(block, 1)
        while entries.count > depth {
            entries.removeLast()()
            core.cleanupsRun.add(1, ordering: .relaxed)
        }
        CPthreadShim_uninterruptible_add(block, -1)
        CPthreadShim_mask_add(block, -1)
    }
}

extension KillContext {
    /// Registers a cleanup for the innermost enclosing cleanup scope: the body
    /// of a ``withCleanup(_:_:)`` or ``bracket(acquire:release:_:)``, an
    /// ``asyncKillable(_:)`` region, or else the thread itself.
    ///
    /// It runs exactly once when that scope ends, however it ends — returning,
    /// throwing, or killed — newest first, with kills deferred. This is what to
    /// use instead of `defer` for anything a kill in an async region must not
    /// leak: a kill jumps over Swift `defer`s and `deinit`s, never over these.
    public func onKill(_ cleanup: @escaping () -> Void) {
        cleanups.push(cleanup, block: core.block)
    }

    /// Runs `body`, then `cleanup` — exactly once, even if `body` throws or a
    /// kill jumps out of it.
    public func withCleanup<R>(_ cleanup: @escaping () -> Void, _ body: () throws -> R) rethrows -> R {
        let depth = cleanups.depth
        cleanups.push(cleanup, block: core.block)
        defer { cleanups.unwind(to: depth, block: core.block) }
        return try body()
    }

    /// Haskell's `bracket`: acquires a resource with kills deferred, registers
    /// its release in the same masked step, runs `body`, then releases it —
    /// exactly once, however `body` ends.
    ///
    /// - Throws: What `acquire` or `body` throws (nothing is released if
    ///   `acquire` throws), or a kill that arrived while acquiring.
    public func bracket<Resource, R>(
        acquire: () throws -> Resource,
        release: @escaping (Resource) -> Void,
        _ body: (Resource) throws -> R
    ) throws -> R {
        let block = core.block
        let depth = cleanups.depth
        // Before `masked`: a kill thrown at the mask's end must still release.
        defer { cleanups.unwind(to: depth, block: block) }
        // The resource lives in `slot[0]`, and the cleanup consumes it from
        // there. While `body` runs it is moved into this frame, and back
        // afterwards; both moves run masked. A jump out of `body` skips this
        // frame and the release it would make, so the cleanup first restores
        // the resource's bits from the copy in `slot[1]` (never treated as a
        // value): whoever held the reference last, the slot holds it again,
        // and the resource is released exactly once instead of leaking.
        let slot = UnsafeMutablePointer<Resource>.allocate(capacity: 2)
        let bytes = MemoryLayout<Resource>.size
        var registered = false
        do {
            try masked {
                slot.initialize(to: try acquire())
                UnsafeMutableRawPointer(slot + 1).copyMemory(from: slot, byteCount: bytes)
                cleanups.push({
                    UnsafeMutableRawPointer(slot).copyMemory(from: slot + 1, byteCount: bytes)
                    release(slot.move())
                    slot.deallocate()
                }, block: block)
                registered = true
            }
        } catch {
            if !registered { slot.deallocate() }
            throw error
        }
        // By hand, not `withMask`: both moves must hand the reference over
        // inside the mask, and a closure would copy it (InternalMask.swift).
        CPthreadShim_mask_add(block, 1)
        let resource = slot.move()
        CPthreadShim_mask_add(block, -1)
        let result: Result<R, any Error>
        do {
            result = .success(try body(resource))
        } catch {
            result = .failure(error)
        }
        CPthreadShim_mask_add(block, 1)
        slot.initialize(to: consume resource)
        CPthreadShim_mask_add(block, -1)
        return try result.get()
    }
}
