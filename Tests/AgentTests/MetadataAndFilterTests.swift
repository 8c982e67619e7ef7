import Foundation
import Pprof
import TestSupport
import XCTest

/// Container/pod labels from a real cgroup, and the --cgroup / --comm filters.
final class MetadataAndFilterTests: AgentTestCase {
    let containerID = "4b1c9e2d7f3a5b6c8d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e"
    let podUID = "5f0e1d2c-3b4a-4958-8776-a5b4c3d2e1f0"

    /// The cgroup v2 hierarchy to create a pod-like cgroup in.
    func unifiedRoot() throws -> String {
        for candidate in ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"] where FileManager.default.fileExists(atPath: candidate + "/cgroup.procs") {
            return candidate
        }
        throw XCTSkip("no writable cgroup v2 hierarchy on this machine")
    }

    func testContainerLabelsAndFilters() throws {
        let root = try unifiedRoot()
        let relative = "/kubepods.slice/kubepods-besteffort-pod\(podUID.replacingOccurrences(of: "-", with: "_")).slice/cri-containerd-\(containerID).scope"
        let directory = root + relative
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let fixture = try startFixture("cpu_split")
        _ = try startFixture("read_loop")  // busy outside the cgroup: must be filtered out
        addTeardownBlock {
            if fixture.isRunning { fixture.terminate(); fixture.waitUntilExit() }
            var path = directory
            while path.count > root.count {  // remove the now-empty cgroups, innermost first
                try? FileManager.default.removeItem(atPath: path)
                path = (path as NSString).deletingLastPathComponent
            }
        }
        try "\(fixture.processIdentifier)\n".write(toFile: directory + "/cgroup.procs", atomically: false, encoding: .utf8)
        let cgroupFile = try String(contentsOfFile: "/proc/\(fixture.processIdentifier)/cgroup", encoding: .utf8)
        XCTAssertTrue(cgroupFile.contains(relative), cgroupFile)

        let agent = try DaemonProcess(["--window", "1", "--cgroup", "/kubepods.slice/", "--comm", "^cpu_spl", "--node-name", "node-7",
                                       "--exclude-kernel-threads"])
        let samples = PprofReader.flatten(try PprofReader.decode(try agent.get("/debug/pprof/profile?seconds=2").body))
        XCTAssertFalse(samples.isEmpty)
        for sample in samples {
            XCTAssertEqual(sample.labels["comm"], "cpu_split")
            XCTAssertEqual(sample.labels["container_id"], containerID)
            XCTAssertEqual(sample.labels["pod_uid"], podUID)
            XCTAssertEqual(sample.labels["node"], "node-7")
        }
        XCTAssertTrue(samples.contains { $0.functions.first == "burn_three_quarters" })
        let metrics = try agent.getText("/metrics")
        let filtered = metrics.split(separator: "\n").first { $0.hasPrefix("profiler_agent_samples_dropped_total{reason=\"filtered\"}") }
        XCTAssertGreaterThan(Double(filtered?.split(separator: " ").last ?? "") ?? 0, 0, "other processes should have been filtered out")

        // A prefix no process has keeps nothing.
        let none = try DaemonProcess(["--cgroup", "/no-such-cgroup/"])
        XCTAssertTrue(PprofReader.flatten(try PprofReader.decode(try none.get("/debug/pprof/profile?seconds=1").body)).isEmpty)
        let badRegex = try Command.run(TestEnvironment.agent, ["run", "--listen", "127.0.0.1:0", "--comm", "(unclosed"])
        XCTAssertEqual(badRegex.status, 1)
        XCTAssertTrue(badRegex.stderr.contains("--comm: '(unclosed' is not a valid regular expression"), badRegex.stderr)
    }
}
