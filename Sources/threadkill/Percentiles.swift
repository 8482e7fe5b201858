/// Exact percentiles of a set of samples, by nearest rank.
///
/// The samples are sorted once. The `p`-th percentile is the sample at rank
/// ⌈p·n/100⌉ (at least 1) in ascending order: the smallest sample that at
/// least `p` % of all samples are less than or equal to. `0` gives the
/// minimum, `100` the maximum; every result is one of the samples.
///
/// A stress or latency run collects at most a few hundred thousand samples,
/// so keeping them all and sorting once costs a few milliseconds and a few
/// megabytes, and no value is rounded into a bucket.
///
/// ```swift
/// let p = Percentiles([15, 20, 35, 40, 50])
/// p.value(at: 30)   // 20
/// p.value(at: 50)   // 35
/// p.value(at: 100)  // 50
/// ```
struct Percentiles<Sample: Comparable> {
    /// The samples, in ascending order.
    let sorted: [Sample]

    /// The percentiles of `samples`, in any order.
    init(_ samples: some Sequence<Sample>) {
        sorted = samples.sorted()
    }

    /// How many samples there are.
    var count: Int { sorted.count }

    /// The largest sample; nil if there are none.
    var maximum: Sample? { sorted.last }

    /// The `percentile`-th percentile (0...100) by nearest rank; nil if there are no samples.
    func value(at percentile: Double) -> Sample? {
        precondition((0...100).contains(percentile), "a percentile is between 0 and 100, not \(percentile)")
        guard !sorted.isEmpty else { return nil }
        // p·n/100 rather than p/100·n: exact whenever p·n is a multiple of 100.
        let rank = Int((percentile * Double(sorted.count) / 100).rounded(.up))
        return sorted[min(max(rank, 1), sorted.count) - 1]
    }
}

extension Percentiles: Sendable where Sample: Sendable {}
