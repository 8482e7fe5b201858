import Synchronization
import ThreadKill

/// Run-wide counters, shared by every worker, killer and cleanup.
final class StressTally: Sendable {
    let cleanupsRegistered = Atomic<Int>(0)
    let cleanupsRan = Atomic<Int>(0)
    let cleanupsRanTwice = Atomic<Int>(0)
    let completed = Atomic<Int>(0)
    private let sinkValue = Atomic<UInt64>(0)
    private let records = Mutex(Records())

    struct Records: Sendable {
        var counts: [StressMethod: [KillOutcome: Int]] = [:]
        var undocumented: [String] = []
        var undocumentedCount = 0
        var jumps = 0
        /// Of `jumps`, those that landed at a hijacked return.
        var jumpsOnReturn = 0
        /// What the jumped bodies' skipped frames may have held (``ResidentBound``).
        var jumpedBytes = 0
        var declines: [InjectionStatistics.DeclineReason: Int] = [:]
    }

    /// Keeps the result of busy work alive, so it is not optimized away.
    func sink(_ value: UInt64) { sinkValue.bitwiseXor(value, ordering: .relaxed) }

    func record(_ record: KillRecord, injection: InjectionStatistics?) {
        records.withLock { r in
            r.counts[record.operation.method, default: [:]][record.outcome, default: 0] += 1
            if record.outcome == .undocumented {
                r.undocumentedCount += 1
                if r.undocumented.count < 20 {
                    r.undocumented.append("worker \(record.worker) \(record.operation): \(record.detail ?? "?")")
                }
            }
            if let injection {
                r.jumps += injection.jumps
                r.jumpsOnReturn += injection.jumpsOnReturn
                r.jumpedBytes += injection.jumps * ResidentBound.heldByJump(allocation: record.operation.allocation)
                for (reason, count) in injection.declines { r.declines[reason, default: 0] += count }
            }
        }
        completed.add(1, ordering: .relaxed)
    }

    var snapshot: Records { records.withLock { $0 } }
}
