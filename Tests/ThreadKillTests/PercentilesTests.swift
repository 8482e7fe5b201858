import Testing
import ThreadKill
@testable import threadkill

@Suite("Percentiles")
struct PercentilesTests {
    @Test("nearest rank on a small known set: every result is one of the samples")
    func nearestRank() {
        // The textbook example of the nearest-rank method.
        let p = Percentiles([15, 20, 35, 40, 50])
        #expect(p.value(at: 0) == 15)
        #expect(p.value(at: 5) == 15)
        #expect(p.value(at: 30) == 20)
        #expect(p.value(at: 40) == 20)
        #expect(p.value(at: 50) == 35)
        #expect(p.value(at: 90) == 50)
        #expect(p.value(at: 100) == 50)
        #expect(p.maximum == 50)
        #expect(p.count == 5)
    }

    @Test("the order of the samples does not matter")
    func unsortedInput() {
        let p = Percentiles([50, 15, 40, 20, 35])
        #expect(p.sorted == [15, 20, 35, 40, 50])
        #expect(p.value(at: 50) == 35)
    }

    @Test("ranks that are exact multiples land on the sample, not one past it")
    func exactRanks() {
        let ten = Percentiles(Array(1...10))
        #expect(ten.value(at: 10) == 1)
        #expect(ten.value(at: 50) == 5)
        #expect(ten.value(at: 90) == 9)
        #expect(ten.value(at: 91) == 10)
        #expect(ten.value(at: 99) == 10)
        let hundred = Percentiles(Array(1...100))
        #expect(hundred.value(at: 1) == 1)
        #expect(hundred.value(at: 50) == 50)
        #expect(hundred.value(at: 99) == 99)
        #expect(hundred.value(at: 99.5) == 100)
        let thousand = Percentiles((1...1000).map(UInt32.init))
        #expect(thousand.value(at: 99.9) == 999)
    }

    @Test("one sample is every percentile; repeated samples count each time")
    func singleAndRepeated() {
        let one = Percentiles([7])
        #expect([0.0, 50, 99, 100].map { one.value(at: $0) } == [7, 7, 7, 7])
        let repeated = Percentiles([1, 1, 1, 9])
        #expect(repeated.value(at: 75) == 1)
        #expect(repeated.value(at: 76) == 9)
    }

    @Test("no samples: no percentile, no maximum; latency statistics say NaN")
    func empty() {
        let p = Percentiles([UInt64]())
        #expect(p.count == 0)
        #expect(p.value(at: 50) == nil)
        #expect(p.value(at: 0) == nil)
        #expect(p.maximum == nil)
        #expect(LatencyStats([]).p50.isNaN)
        #expect(micros(LatencyStats([]).p99) == "—")
    }

    @Test("latency statistics turn nanoseconds into microseconds")
    func latencyStats() {
        let stats = LatencyStats([3_000, 1_000, 2_000, 4_000_000])
        #expect(stats.p50 == 2.0)
        #expect(stats.p90 == 4_000.0)
        #expect(stats.p99 == 4_000.0)
        #expect(micros(stats.p50) == "2.0 µs")
        #expect(micros(stats.p99) == "4000 µs")
    }

    @Test("one duration format for the library's reports and the CLI; fixed decimals keep their sign")
    func formats() {
        #expect(Duration.nanoseconds(41).compactDescription == "41 ns")
        #expect(Duration.microseconds(41).compactDescription == "41.0 µs")
        #expect(Duration.microseconds(150).compactDescription == "150 µs")
        #expect(Duration.microseconds(2_500).compactDescription == "2.5 ms")
        #expect(Duration.milliseconds(1_250).compactDescription == "1.2 s")
        #expect(Duration.milliseconds(1_500).seconds == 1.5)
        #expect(fixed(1.5, 2) == "1.50")
        #expect(fixed(-0.5, 1) == "-0.5")
        #expect(fixed(-0.01, 1) == "0.0")
        #expect(fixed(7, 0) == "7")
    }
}
