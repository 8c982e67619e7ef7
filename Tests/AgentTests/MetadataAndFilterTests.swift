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

    /// Moves `process` into a kubelet/containerd-style cgroup of container `id`
    /// (removed again, innermost first, when the test ends).
    func enterContainer(_ process: Process, id: String, pod: String) throws {
        let root = try unifiedRoot()
        let relative = "/kubepods.slice/kubepods-besteffort-pod\(pod.replacingOccurrences(of: "-", with: "_")).slice/cri-containerd-\(id).scope"
        let directory = root + relative
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        addTeardownBlock {
            if process.isRunning { process.terminate(); process.waitUntilExit() }
            var path = directory
            while path.count > root.count {
                try? FileManager.default.removeItem(atPath: path)
                path = (path as NSString).deletingLastPathComponent
            }
        }
        try "\(process.processIdentifier)\n".write(toFile: directory + "/cgroup.procs", atomically: false, encoding: .utf8)
        let cgroupFile = try String(contentsOfFile: "/proc/\(process.processIdentifier)/cgroup", encoding: .utf8)
        XCTAssertTrue(cgroupFile.contains(relative), cgroupFile)
    }

    func testContainerLabelsAndFilters() throws {
        let fixture = try startFixture("cpu_split")
        _ = try startFixture("read_loop")  // busy outside the cgroup: must be filtered out
        try enterContainer(fixture, id: containerID, pod: podUID)

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

    /// `--syscall-containers 1`: the first container gets its own series, the
    /// next one is folded into "other" (and counted), the node-wide family is unchanged.
    func testSyscallLatencyByContainerIsCapped() throws {
        let second = "9" + containerID.dropFirst()
        // Each waits before its syscalls: the agent, started after them, must be attached by then
        // (it builds unwind tables first; 1.5 s once left 38 of 40 counted).
        let first = try startFixture("sleeper", arguments: ["3", "40"])
        let later = try startFixture("sleeper", arguments: ["5.5", "40"])
        try enterContainer(first, id: containerID, pod: podUID)
        try enterContainer(later, id: second, pod: "6" + podUID.dropFirst())
        let agent = try DaemonProcess(["--window", "1", "--tracers", "syscall", "--syscall-containers", "1", "--syscall-top", "512"])
        for process in [first, later] { process.waitUntilExit() }
        Thread.sleep(forTimeInterval: 1.5)  // the last counts are drained

        let metrics = try agent.getText("/metrics", accept: "application/openmetrics-text; version=1.0.0")
        func count(_ labels: String) -> Double {
            let line = metrics.split(separator: "\n").first { $0.hasPrefix("profiler_container_syscall_latency_seconds_count{\(labels)}") }
            return line.flatMap { Double($0.split(separator: " ")[1]) } ?? 0
        }
        XCTAssertGreaterThanOrEqual(count("container_id=\"\(containerID)\",syscall=\"nanosleep\""), 40,
                                    metrics.split(separator: "\n").filter { $0.contains("container_syscall") && $0.contains("_count") }.joined(separator: "\n"))
        XCTAssertGreaterThanOrEqual(count("container_id=\"other\",syscall=\"nanosleep\""), 40, "the second container is folded")
        XCTAssertFalse(metrics.contains(second), "over the cap: no series of its own")
        XCTAssertTrue(metrics.contains("profiler_agent_folded_label_values{metric=\"profiler_container_syscall_latency_seconds\",label=\"container_id\"} 1"))
        XCTAssertTrue(metrics.contains("profiler_container_syscall_latency_seconds_bucket{syscall="), "host processes carry no container_id")
        XCTAssertTrue(metrics.contains("profiler_syscall_latency_seconds_count{syscall=\"nanosleep\"}"), "the node-wide family stays")
        let promtool = try XCTUnwrap(TestEnvironment.which("promtool"))
        let check = try Command.run(promtool, ["check", "metrics"], input: Data(try agent.getText("/metrics").utf8))
        XCTAssertEqual(check.status, 0, check.output + check.stderr)

        let off = try DaemonProcess(["--tracers", "syscall"])
        XCTAssertFalse(try off.getText("/metrics").contains("profiler_container_syscall_latency_seconds"), "opt-in only")
    }
}
