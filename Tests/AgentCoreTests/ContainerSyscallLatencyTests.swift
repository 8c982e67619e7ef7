@testable import AgentCore
import XCTest

final class ContainerSyscallLatencyTests: XCTestCase {
    func count(_ pid: Int32, nr: Int = 35, bucket: Int = 16, events: UInt64 = 1, end: UInt64 = 1) -> ProcessSyscallCount {
        ProcessSyscallCount(pid: pid, number: nr, bucket: bucket, count: events, sumNanoseconds: events * 50_000_000, cgroupID: UInt64(pid),
                            exemplar: LatencyExemplar(spanID: UInt64(pid), durationNanoseconds: 50_000_000, endMonotonicNanoseconds: end))
    }

    func testFirstContainersKeepTheirLabelLaterOnesFold() {
        var latency = ContainerSyscallLatency(maxContainers: 2)
        let containers: [Int32: String] = [1: "a", 2: "b", 3: "c", 4: "d", 5: ""]
        latency.add([count(1), count(2, events: 3), count(3), count(4, end: 9), count(5)]) { containers[$0.pid]! }
        latency.add([count(1, events: 2), count(3)]) { containers[$0.pid]! }
        let byContainer = Dictionary(uniqueKeysWithValues: latency.series.map { ($0.key.container, $0.value) })
        XCTAssertEqual(Set(byContainer.keys), ["a", "b", "other", ""], "host processes are not counted against the cap")
        XCTAssertEqual(byContainer["a"]?.buckets[16], 3)
        XCTAssertEqual(byContainer["b"]?.buckets[16], 3)
        XCTAssertEqual(byContainer["other"]?.buckets[16], 3, "c twice and d")
        XCTAssertEqual(byContainer["other"]?.exemplars[16]?.spanID, 4, "the latest event (d ended last) is the exemplar")
        XCTAssertEqual(byContainer["other"]?.sumNanoseconds, 150_000_000)
        XCTAssertEqual(latency.foldedContainers, 2)
    }

    func testCgroupIdsSeenWithTwoContainersAreNotTrusted() {
        var cgroups = CgroupContainers(capacity: 10)
        cgroups.learn(cgroup: 7, container: "a")
        cgroups.learn(cgroup: 7, container: "a")
        XCTAssertEqual(cgroups.container(of: 7), "a")
        cgroups.learn(cgroup: 1, container: "a")
        cgroups.learn(cgroup: 1, container: "b")  // cgroup v1: everyone reports the root
        XCTAssertNil(cgroups.container(of: 1))
        cgroups.learn(cgroup: 1, container: "a")
        XCTAssertNil(cgroups.container(of: 1))
        XCTAssertNil(cgroups.container(of: 99))
    }

    /// Months of blocked threads reach 2^64 ns: the lifetime totals stop there, never trap nor go back.
    func testLifetimeTotalsSaturateInsteadOfTrapping() {
        var latency = ContainerSyscallLatency(maxContainers: 2)
        var huge = count(1, events: 3)
        huge.sumNanoseconds = UInt64.max - 10
        latency.add([huge]) { _ in "a" }
        huge.count = UInt64.max
        latency.add([huge, count(1)]) { _ in "a" }
        let series = latency.series[.init(container: "a", number: 35)]
        XCTAssertEqual(series?.sumNanoseconds, UInt64.max)
        XCTAssertEqual(series?.buckets[16], UInt64.max)
    }
}
