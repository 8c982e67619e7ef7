@testable import AgentCore
@testable import AgentService
import XCTest

/// Capped labels keep totals: what is folded into "other" is added, not lost.
final class LabelCapTests: XCTestCase {
    func series(_ device: String, _ op: String, requests: UInt64) -> BlockIOSeries {
        var buckets = [UInt64](repeating: 0, count: LatencyBuckets.upperBounds.count)
        buckets[3] = requests
        return BlockIOSeries(device: device, operation: op, buckets: buckets, sumNanoseconds: requests * 1000, bytes: requests * 4096,
                             exemplars: [LatencyExemplar?](repeating: nil, count: LatencyBuckets.upperBounds.count))
    }

    func testBlockDevicesBeyondTheCapFoldIntoOther() {
        let devices = (0..<40).map { "loop\($0)" }
        let all = devices.enumerated().flatMap { i, d in [series(d, "read", requests: UInt64(100 + i)), series(d, "write", requests: 1)] }
        let (kept, folded) = LatencyMetrics.foldBlockDevices(all)
        XCTAssertEqual(folded, 8)
        XCTAssertEqual(Set(kept.map(\.device)).count, LatencyMetrics.maximumBlockDevices + 1)
        XCTAssertTrue(kept.contains { $0.device == "other" && $0.operation == "read" })
        XCTAssertFalse(kept.contains { $0.device == "loop0" }, "the quietest devices fold first")
        XCTAssertTrue(kept.contains { $0.device == "loop39" })
        func requests(_ series: [BlockIOSeries]) -> UInt64 { series.map { $0.buckets.reduce(0, +) }.reduce(0, +) }
        func bytes(_ series: [BlockIOSeries]) -> UInt64 { series.map(\.bytes).reduce(0, +) }
        func sum(_ series: [BlockIOSeries]) -> UInt64 { series.map(\.sumNanoseconds).reduce(0, +) }
        XCTAssertEqual(requests(kept), requests(all))
        XCTAssertEqual(bytes(kept), bytes(all))
        XCTAssertEqual(sum(kept), sum(all))

        let few = Array(all.prefix(6))
        XCTAssertEqual(LatencyMetrics.foldBlockDevices(few).folded, 0)
        XCTAssertEqual(LatencyMetrics.foldBlockDevices(few).series.count, 6)
    }

    func testFoldedSyscallsAreAddedToOther() {
        func syscall(_ number: Int, _ count: UInt64) -> SyscallLatencySnapshot.Series {
            var buckets = [UInt64](repeating: 0, count: LatencyBuckets.upperBounds.count)
            buckets[0] = count
            return SyscallLatencySnapshot.Series(number: number, buckets: buckets, sumNanoseconds: count,
                                                 exemplars: [LatencyExemplar?](repeating: nil, count: LatencyBuckets.upperBounds.count))
        }
        let snapshot = SyscallLatencySnapshot(series: (0..<10).map { syscall($0, UInt64(10 + $0)) })
        let family = LatencyMetrics(topSyscalls: 3).syscallFamily(snapshot)
        let counts = family.samples.filter { $0.suffix == "_count" }
        XCTAssertEqual(counts.count, 4, "3 named + other")
        let other = counts.first { $0.labels.contains { $0 == ("syscall", "other") } }
        XCTAssertEqual(other?.value, Double((10...16).reduce(0, +)))
    }
}
