import Synchronization

/// The one error type every kill delivered into a thread is thrown as.
///
/// A `catch let kill as KillError` tells a kill from the body's own errors.
/// Each kill has a unique ``id`` (like GHC's `Timeout` carrying a fresh
/// `Unique`), so a handler can tell *which* kill it caught.
///
/// - Important: A stop is sticky. Catching a ``Reason/stopRequested`` kill and
///   carrying on does not withdraw the request: it is thrown again at every
///   later delivery point. Interrupts and budget kills are consumed when thrown.
public struct KillError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Why the kill was delivered.
    public enum Reason: String, Hashable, Sendable {
        /// ``KillableThread/requestStop()`` or a linked ``StopSource``.
        case stopRequested = "stop requested"
        /// ``KillableThread/interrupt()``.
        case interrupted = "interrupted"
        /// The thread used more CPU time than its budget allowed.
        case cpuBudgetExceeded = "CPU budget exceeded"
        /// ``KillableThread/cancel()`` ended a cancellable C call.
        case cancelled = "cancelled"
    }

    /// Why the kill was delivered.
    public let reason: Reason
    /// Unique for every kill request in the process.
    public let id: KillID

    /// When the kill was requested (monotonic nanoseconds), for reports.
    let requestedAt: UInt64

    /// A kill error with a fresh id, as if requested now.
    public init(reason: Reason) {
        self.init(reason: reason, id: .next())
    }

    init(reason: Reason, id: KillID, requestedAt: UInt64 = monotonicNanos()) {
        self.reason = reason
        self.id = id
        self.requestedAt = requestedAt
    }

    public static func == (a: KillError, b: KillError) -> Bool { a.id == b.id && a.reason == b.reason }
    public func hash(into hasher: inout Hasher) { hasher.combine(id) }

    public var description: String { "killed: \(reason.rawValue) (kill #\(id.rawValue))" }
}

/// Identifies one kill request. Unique within the process.
public struct KillID: Hashable, Sendable, Comparable {
    /// The id's number: kills are numbered from 1 in the order they are requested.
    public let rawValue: UInt64

    private static let counter = Atomic<UInt64>(0)

    static func next() -> KillID {
        KillID(rawValue: counter.add(1, ordering: .relaxed).newValue)
    }

    init(rawValue: UInt64) { self.rawValue = rawValue }

    public static func < (a: KillID, b: KillID) -> Bool { a.rawValue < b.rawValue }
}
