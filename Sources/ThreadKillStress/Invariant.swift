/// One health check of a stress run and its verdict.
public struct InvariantResult: Sendable, CustomStringConvertible {
    /// What must hold.
    public let name: String
    /// Whether it held.
    public let passed: Bool
    /// The numbers behind the verdict.
    public let detail: String

    public var description: String { "\(passed ? "PASS" : "FAIL") \(name): \(detail)" }
}

/// The baseline taken before the workers start, after the library's own
/// service threads (the resend watchdog, the process spawner) exist.
struct Baseline {
    let threads: Int
    let descriptors: Int
    let residentBytes: Int
    let children: [String]

    static func take() -> Baseline {
        Baseline(threads: ProcSelf.threadCount, descriptors: ProcSelf.descriptorCount,
                 residentBytes: ProcSelf.residentBytes, children: ProcSelf.children)
    }
}

/// How much resident memory a run may gain and still pass.
///
/// Growth is reported as measured; only this much fails the run:
/// - 64 MiB of slack: glibc keeps up to 40 MiB of exited threads' stacks for
///   reuse, and each thread may get its own malloc arena (up to 8 per core)
///   that keeps freed memory;
/// - 32 KiB per kill that landed by a jump: a jump skips the frames of the
///   async region, and what they owned leaks (a documented hole). The region
///   holds at most one array of 512 `UInt64`s (4 KiB), two short strings and an
///   eight-entry dictionary, with malloc headers well under 32 KiB.
enum ResidentBound {
    static let slack = 64 << 20
    static let perJump = 32 << 10

    static func limit(jumps: Int) -> Int { slack + perJump * jumps }
}
