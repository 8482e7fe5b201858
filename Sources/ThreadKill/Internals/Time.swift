#if canImport(Glibc)
import Glibc
#endif

/// Monotonic time in nanoseconds (CLOCK_MONOTONIC), the clock every
/// deadline in ThreadKill uses.
func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

extension Duration {
    /// Whole nanoseconds, saturating at `UInt64.max`; nil if negative.
    var nonNegativeNanos: UInt64? {
        let (seconds, attos) = components
        if seconds < 0 || (seconds == 0 && attos < 0) { return nil }
        let (ns, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return .max }
        let (sum, o2) = ns.addingReportingOverflow(UInt64(attos / 1_000_000_000))
        return o2 ? .max : sum
    }

    /// Checks that the duration is not negative, naming the operation in the error.
    func validatedNanos(_ what: String) throws(ThreadKillError) -> UInt64 {
        guard let ns = nonNegativeNanos else { throw .invalidDuration(what, self) }
        return ns
    }

    static func nanoseconds(_ ns: UInt64) -> Duration {
        .nanoseconds(Int64(clamping: ns))
    }
}

extension UInt64 {
    /// `self + other`, or `UInt64.max` if that overflows: deadline arithmetic
    /// saturates (a `.seconds(Int64.max)` grace means "never", not a trap).
    func saturatingAdd(_ other: UInt64) -> UInt64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? .max : sum
    }
}

/// A deadline on the monotonic clock; `nil` nanoseconds means "never".
struct Deadline {
    let nanos: UInt64?

    static let never = Deadline(nanos: nil)

    init(nanos: UInt64?) { self.nanos = nanos }

    init(after ns: UInt64?) {
        guard let ns else { self.nanos = nil; return }
        let (sum, o) = monotonicNanos().addingReportingOverflow(ns)
        self.nanos = o ? nil : sum
    }

    /// Nanoseconds left (0 when passed), or nil for "never".
    var remaining: UInt64? {
        guard let nanos else { return nil }
        let now = monotonicNanos()
        return nanos > now ? nanos - now : 0
    }

    var hasPassed: Bool { remaining == 0 }
}

func timespec(nanos: UInt64) -> timespec {
    timespec(tv_sec: Int(nanos / 1_000_000_000), tv_nsec: Int(nanos % 1_000_000_000))
}
