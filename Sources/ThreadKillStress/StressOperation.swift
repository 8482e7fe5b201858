/// One planned step of a stress run: a body to start, a method to hit it
/// with, and the moment to do it. Everything here comes from the seed.
public struct StressOperation: Sendable, Hashable, CustomStringConvertible {
    /// Position in its worker's schedule, from 0.
    public let index: Int
    /// How the work is stopped.
    public let method: StressMethod
    /// What the worker thread runs (unused by ``StressMethod/process``).
    public let body: BodyKind
    /// When the killer acts.
    public let moment: KillMoment
    /// Whether the killer first lets the body finish by itself (closes its
    /// pipe, connects to its listener), so the kill races the thread's exit.
    public let releaseFirst: Bool
    /// Iterations of the body's loop, or of the process job's arithmetic.
    public let work: Int
    /// Cleanups wrapped around the body, outermost first.
    public let cleanups: [CleanupKind]
    /// Elements per array allocated in async regions.
    public let allocation: Int

    public var description: String {
        "#\(index) \(method.rawValue) \(method == .process ? "job" : body.rawValue) at \(moment)"
            + (releaseFirst ? " after release" : "") + " work \(work)"
            + (cleanups.isEmpty ? "" : " cleanups \(cleanups.map(\.rawValue).joined(separator: ">"))")
    }
}

/// What a worker thread runs.
public enum BodyKind: String, CaseIterable, Sendable, Hashable {
    /// A loop of checkpoints, arithmetic and short interruptible sleeps.
    case cooperative
    /// `ctx.read` blocked on an empty pipe.
    case pipeRead
    /// `ctx.recv` blocked on a loopback TCP connection.
    case socketRecv
    /// `ctx.accept` blocked on a loopback listener.
    case socketAccept
    /// Masked (and sometimes uninterruptible) critical sections holding a shared `Mutex`.
    case maskedMutex
    /// An async region that allocates arrays, strings and dictionaries and does arithmetic.
    case asyncAllocation
    /// A foreign C `read` blocked on a pipe inside `ctx.blocking`.
    case foreignRead
    /// `ctx.cancellableRead` blocked on a pipe: `read` that a cancel wakes, on the thread itself.
    case cancellableRead
    /// `ctx.cancellableCall` of a C `read` blocked on a pipe: on a helper
    /// thread that a cancel ends with `pthread_cancel`, running its C cleanup.
    case cancellableCRead

    /// Bodies that sit in a blocking call until released or killed.
    var blocks: Bool {
        switch self {
        case .pipeRead, .socketRecv, .socketAccept, .foreignRead, .cancellableRead, .cancellableCRead: return true
        case .cooperative, .maskedMutex, .asyncAllocation: return false
        }
    }

    /// The phases this body passes through, so a killer can aim at one.
    var phases: [Phase] {
        switch self {
        case .cooperative: return [.started, .exiting]
        case .pipeRead, .socketRecv, .socketAccept, .foreignRead, .cancellableRead, .cancellableCRead: return [.started, .blocked, .exiting]
        case .maskedMutex: return [.started, .inMask, .maskEnding, .exiting]
        case .asyncAllocation: return [.started, .inAsyncRegion, .exiting]
        }
    }
}

/// A cleanup registered around a body.
public enum CleanupKind: String, CaseIterable, Sendable, Hashable {
    /// `ctx.withCleanup`.
    case withCleanup
    /// `ctx.bracket`, holding an open descriptor.
    case bracket
    /// `ctx.onKill`, registered for the thread's whole life.
    case onKill
}

/// A point in a body's life that a body announces and a killer can wait for.
public enum Phase: Int, Sendable, Hashable, CaseIterable {
    /// The body began.
    case started = 0
    /// About to enter a blocking call.
    case blocked
    /// Inside a masked critical section.
    case inMask
    /// The last statement of a masked section: the mask is about to end.
    case maskEnding
    /// Inside an async region.
    case inAsyncRegion
    /// A cleanup is running.
    case cleanupRunning
    /// The body is about to return by itself.
    case exiting
}

/// When a killer acts.
public enum KillMoment: Sendable, Hashable, CustomStringConvertible {
    /// As soon as the thread is started.
    case atOnce
    /// After this many microseconds.
    case after(microseconds: Int)
    /// As soon as the body announces this phase (or has ended).
    case atPhase(Phase)

    public var description: String {
        switch self {
        case .atOnce: return "once started"
        case .after(let us): return "+\(us)µs"
        case .atPhase(let phase): return "phase \(phase)"
        }
    }
}
