/// State guarded by a lock, with waits that a kill can end: the stop-aware
/// replacement for a condition variable.
///
/// ```swift
/// let jobs = Monitor<[Job]>([])
/// jobs.withLock { $0.append(job) }                    // producer
/// let next = try ctx.wait(on: jobs, until: { !$0.isEmpty }) { $0.removeFirst() }
/// ```
public final class Monitor<State: Sendable>: @unchecked Sendable {  // `state` is guarded by `lock`
    private let lock = ConditionLock.make()
    private var state: State

    /// A monitor holding `initial`.
    public init(_ initial: State) {
        state = initial
    }

    /// Runs `body` on the state under the lock, then wakes every waiter.
    public func withLock<R, E: Error>(_ body: (inout State) throws(E) -> R) throws(E) -> R {
        lock.lock()
        defer {
            lock.broadcast()
            lock.unlock()
        }
        return try body(&state)
    }

    func wakeAll() {
        lock.withLock { lock.broadcast() }
    }

    /// Calls `attempt` under the lock until it returns a value or the deadline passes.
    func waitLocked<R>(until deadline: Deadline, _ attempt: (inout State) throws -> R?) throws -> R? {
        lock.lock()
        defer { lock.unlock() }
        while true {
            if let result = try attempt(&state) { return result }
            if !lock.wait(until: deadline) { return try attempt(&state) }
        }
    }
}
