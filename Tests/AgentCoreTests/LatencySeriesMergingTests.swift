@testable import AgentCore
import XCTest

@testable import AgentService

/// Folding series into "other" on every scrape: the kernel's sums already wrap,
/// the agent's own totals must not go back; neither may trap.
final class LatencySeriesMergingTests: XCTestCase {
    func kernelSeries(sum: UInt64, bucket: UInt64) -> SyscallLatencySnapshot.Series {
        var buckets = [UInt64](repeating: 0, count: 4)
        buckets[1] = bucket
        return .init(number: 0, buckets: buckets, sumNanoseconds: sum, exemplars: [LatencyExemplar?](repeating: nil, count: 4))
    }

    func testKernelSumsWrapAsTheKernelDoes() {
        var merged = kernelSeries(sum: UInt64.max - 4, bucket: UInt64.max)
        merged.absorb(kernelSeries(sum: 10, bucket: 3))
        XCTAssertEqual(merged.sumNanoseconds, 5, "(2^64 - 5) + 10 wraps to 5, as one kernel series would")
        XCTAssertEqual(merged.buckets[1], 2)
    }

    func testAgentTotalsSaturate() {
        var merged = ContainerSyscallLatency.Histogram()
        merged.sumNanoseconds = UInt64.max - 4
        merged.buckets[1] = UInt64.max
        var other = ContainerSyscallLatency.Histogram()
        other.sumNanoseconds = 10
        other.buckets[1] = 3
        merged.absorb(other)
        XCTAssertEqual(merged.sumNanoseconds, UInt64.max)
        XCTAssertEqual(merged.buckets[1], UInt64.max)
    }

    func testCumulativeBucketsOfAHugeSeriesDoNotTrap() {
        let samples = histogramSamples(labels: [], buckets: [UInt64.max, 5, 0], exemplars: [nil, nil, nil], sumNanoseconds: UInt64.max,
                                       clock: MonotonicToWall())
        XCTAssertEqual(samples.last?.value, Double(UInt64.max), "_count stops at 2^64 - 1")
    }
}
