import Foundation
import Pprof
import TestSupport
import XCTest

/// Failing neighbours and hostile conditions: the agent keeps going, counts
/// what it could not do, and leaves nothing behind.
final class FaultTests: AgentTestCase {
    /// A directory for executable copies (/tmp may be mounted noexec).
    func executableScratch() throws -> URL {
        let url = TestEnvironment.packageRoot.appendingPathComponent(".build/test-scratch/\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    func copyFixture(_ name: String, to url: URL) throws {
        try FileManager.default.copyItem(atPath: TestEnvironment.fixture(name), toPath: url.path)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url.path)
    }

    func start(_ url: URL, _ arguments: [String] = ["60"], launcher: [String] = []) throws -> Process {
        let command = launcher + [url.path] + arguments
        let process = try Command.start(command[0], Array(command.dropFirst()))
        Thread.sleep(forTimeInterval: 0.3)
        addTeardownBlock {
            if process.isRunning { process.terminate() }
            process.waitUntilExit()
        }
        return process
    }

    // MARK: SIGKILL

    /// Ids of loaded BPF programs and links, and the number of perf-event file
    /// descriptors held by any process.
    func kernelObjects() throws -> (programs: Set<Int>, links: Set<Int>, perfEvents: Int) {
        let bpftool = TestEnvironment.which("bpftool") ?? "/usr/sbin/bpftool"
        func ids(_ kind: String) throws -> Set<Int> {
            let result = try Command.run(bpftool, ["-j", kind, "show"])
            XCTAssertEqual(result.status, 0, result.stderr)
            let objects = try JSONSerialization.jsonObject(with: result.stdout) as? [[String: Any]] ?? []
            return Set(objects.compactMap { $0["id"] as? Int })
        }
        var perfEvents = 0
        for pid in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] where Int(pid) != nil {
            for fd in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? [] {
                if (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(fd)")) == "anon_inode:[perf_event]" {
                    perfEvents += 1
                }
            }
        }
        return (try ids("prog"), try ids("link"), perfEvents)
    }

    /// SIGKILL gives the agent no chance to detach: the kernel must take back
    /// every program, link and perf event with its file descriptors (nothing is
    /// pinned), and a new agent must start cleanly on the same machine.
    func testSIGKILLLeavesNoProgramsLinksOrPerfEventsAndARestartWorks() throws {
        _ = try startFixture("cpu_split")
        _ = try startFixture("read_loop")
        let before = try kernelObjects()
        let agent = try DaemonProcess(["--window", "1"])
        XCTAssertEqual(try agent.get("/readyz").status, 200)
        let during = try kernelObjects()
        let programs = during.programs.subtracting(before.programs), links = during.links.subtracting(before.links)
        XCTAssertGreaterThanOrEqual(programs.count, 8, "every tracer loads programs")
        XCTAssertGreaterThanOrEqual(links.count, 5)
        XCTAssertGreaterThanOrEqual(during.perfEvents - before.perfEvents, ProcessInfo.processInfo.activeProcessorCount,
                                    "one sampling perf event per CPU")

        kill(agent.process.processIdentifier, SIGKILL)
        agent.process.waitUntilExit()
        XCTAssertEqual(agent.process.terminationReason, .uncaughtSignal)
        var after = try kernelObjects()
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline, !after.programs.isDisjoint(with: programs) || !after.links.isDisjoint(with: links) || after.perfEvents > before.perfEvents {
            Thread.sleep(forTimeInterval: 0.2)
            after = try kernelObjects()
        }
        XCTAssertTrue(after.programs.isDisjoint(with: programs), "programs left loaded: \(after.programs.intersection(programs))")
        XCTAssertTrue(after.links.isDisjoint(with: links), "links left: \(after.links.intersection(links))")
        XCTAssertLessThanOrEqual(after.perfEvents, before.perfEvents, "perf events left open")

        let again = try DaemonProcess(["--window", "1"])
        XCTAssertEqual(try again.get("/readyz").status, 200)
        let samples = try PprofReader.flatten(PprofReader.decode(again.get("/debug/pprof/profile?seconds=2").body))
        XCTAssertTrue(samples.contains { $0.functions.contains("burn_three_quarters") }, "the restarted agent samples and symbolises")
        XCTAssertFalse(again.stderr.contains("cannot attach"), again.stderr)
        XCTAssertEqual(again.terminate().status, 0)
    }

    // MARK: Binaries that change under a running process

    /// A deleted executable and one replaced by another file (a package upgrade's
    /// rename) are symbolised from the inode still mapped (/proc/PID/map_files),
    /// never from whatever the path names now.
    func testDeletedAndReplacedExecutablesAreSymbolisedFromTheMappedFile() throws {
        let directory = try executableScratch()
        let deletedPath = directory.appendingPathComponent("deleted_cpu_split")
        let replacedPath = directory.appendingPathComponent("replaced_cpu_split")
        try copyFixture("cpu_split", to: deletedPath)
        try copyFixture("cpu_split", to: replacedPath)
        let deleted = try start(deletedPath), replaced = try start(replacedPath)
        try FileManager.default.removeItem(at: deletedPath)
        let newer = directory.appendingPathComponent("newer")
        try copyFixture("sleeper", to: newer)
        XCTAssertEqual(rename(newer.path, replacedPath.path), 0)

        let samples = try record(["--duration", "3", "--pid", "\(deleted.processIdentifier)", "--pid", "\(replaced.processIdentifier)"])
        for process in [deleted, replaced] {
            let mine = samples.filter { $0.numericLabels["pid"] == Int64(process.processIdentifier) }
            XCTAssertGreaterThan(mine.count, 0)
            let named = mine.filter { $0.userFunctions.contains("burn_three_quarters") || $0.userFunctions.contains("burn_one_quarter") }
            XCTAssertGreaterThan(named.reduce(0) { $0 + $1.count }, mine.reduce(0) { $0 + $1.count } * 8 / 10,
                                 "pid \(process.processIdentifier): \(mine.prefix(3).map(\.functions))")
        }
    }

    /// A 1 GiB executable (its symbols at the start, a sparse gigabyte after) is
    /// symbolised without reading the gigabyte: the agent's peak RSS stays small.
    func testGigabyteExecutableIsSymbolisedInBoundedMemory() throws {
        let directory = try executableScratch()
        let big = directory.appendingPathComponent("gigabyte_cpu_split")
        try copyFixture("cpu_split", to: big)
        let handle = try FileHandle(forWritingTo: big)
        try handle.truncate(atOffset: 1 << 30)
        try handle.close()
        let process = try start(big)

        let output = scratch.appendingPathComponent("big.pb.gz")
        // Peak RSS of the agent, from the parent's view (ru_maxrss of children, KiB).
        let script = """
            import resource, subprocess, sys
            r = subprocess.run(sys.argv[1:])
            print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
            sys.exit(r.returncode)
            """
        let result = try Command.run("/usr/bin/python3", ["-c", script, TestEnvironment.agent, "record", "--duration", "3",
                                                          "--pid", "\(process.processIdentifier)", "--output", output.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        let peakKiB = try XCTUnwrap(Int(result.output.trimmingCharacters(in: .whitespacesAndNewlines)))
        XCTAssertLessThan(peakKiB, 300 << 10, "peak RSS \(peakKiB) KiB: the file must not be read whole")
        let samples = PprofReader.flatten(try PprofReader.decode(Data(contentsOf: output)))
        XCTAssertTrue(samples.contains { $0.userFunctions.contains("burn_three_quarters") }, "\(samples.prefix(3).map(\.functions))")
    }

    // MARK: Processes whose /proc/PID/root the agent may not open

    /// With only the capabilities to sample (no CAP_SYS_PTRACE over the target,
    /// no CAP_CHECKPOINT_RESTORE) the agent cannot open /proc/PID/root nor
    /// /proc/PID/map_files of another user's process. Binaries still at their path
    /// (the same inode, checked) are symbolised from there; a deleted one keeps a
    /// placeholder frame naming the file (`[unreadable: path]`). Samples are never dropped for it.
    func testUnreachableProcessRootFallsBackToTheVerifiedHostPath() throws {
        let nobodyUser = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"]
        let directory = try executableScratch()
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory.path)
        let deletedPath = directory.appendingPathComponent("deleted_cpu_split")
        try copyFixture("cpu_split", to: deletedPath)
        let present = try start(URL(fileURLWithPath: TestEnvironment.fixture("cpu_split")), launcher: nobodyUser)
        let deleted = try start(deletedPath, launcher: nobodyUser)
        try FileManager.default.removeItem(at: deletedPath)

        // bpf, perfmon and syslog: enough to sample, not to look into other users' processes.
        let limited = ["/usr/bin/setpriv", "--bounding-set=-all,+bpf,+perfmon,+syslog,+dac_override", "--inh-caps=-all"]
        let probe = try Command.run(limited[0], Array(limited.dropFirst()) + ["/bin/ls", "/proc/\(present.processIdentifier)/root/"])
        XCTAssertNotEqual(probe.status, 0, "the test needs /proc/PID/root to be out of reach")
        let agent = try DaemonProcess(["--window", "1", "--tracers", "syscall"], launcher: limited)
        XCTAssertTrue(agent.stderr.contains("SYS_PTRACE"), "the missing capability is named at start: \(agent.stderr)")
        let response = try agent.get("/debug/pprof/profile?seconds=2&pid=\(present.processIdentifier),\(deleted.processIdentifier)")
        XCTAssertEqual(response.status, 200)
        let samples = PprofReader.flatten(try PprofReader.decode(response.body))
        let fromPath = samples.filter { $0.numericLabels["pid"] == Int64(present.processIdentifier) }
        let fromDeleted = samples.filter { $0.numericLabels["pid"] == Int64(deleted.processIdentifier) }
        XCTAssertTrue(fromPath.contains { $0.userFunctions.contains("burn_three_quarters") }, "\(fromPath.prefix(3).map(\.functions))")
        XCTAssertGreaterThan(fromDeleted.count, 0, "samples of a process whose binary cannot be opened are kept")
        XCTAssertTrue(fromDeleted.allSatisfy { !$0.userFunctions.contains("burn_three_quarters") })
        XCTAssertTrue(fromDeleted.contains { $0.userFunctions.contains("[unreadable: \(deletedPath.path)]") }, "\(fromDeleted.prefix(3).map(\.functions))")
        XCTAssertEqual(try agent.get("/readyz").status, 200)
        XCTAssertEqual(agent.terminate().status, 0)
    }

    // MARK: Full BPF maps

    /// Maps made tiny on purpose overflow: the losses are counted in /metrics,
    /// the agent stays ready and keeps what fitted.
    func testFullMapsAreCountedNotFatal() throws {
        _ = try startFixture("cpu_split")
        _ = try startFixture("read_loop")
        _ = try startFixture("sleeper")
        let agent = try DaemonProcess(["--window", "1", "--tracers", "syscall,offcpu", "--syscall-containers", "4"],
                                      environment: ["PROFILER_AGENT_MAP_ENTRIES": "counts=4,offcpu_counts=2,syscall_process_hist=2"])
        Thread.sleep(forTimeInterval: 3)
        let metrics = try agent.getText("/metrics")
        XCTAssertGreaterThan(DaemonProcess.metric("profiler_agent_samples_dropped_total{reason=\"map_full\"}", in: metrics) ?? 0, 0, metrics)
        XCTAssertGreaterThan(DaemonProcess.metric("profiler_agent_samples_total", in: metrics) ?? 0, 0)
        XCTAssertGreaterThan(DaemonProcess.metric("profiler_agent_syscall_process_map_full_total", in: metrics) ?? 0, 0, metrics)
        XCTAssertGreaterThan(DaemonProcess.metric("profiler_agent_offcpu_dropped_total", in: metrics) ?? 0, 0, metrics)
        XCTAssertEqual(try agent.get("/readyz").status, 200)
        let samples = try PprofReader.flatten(PprofReader.decode(agent.get("/debug/pprof/profile?seconds=1").body))
        XCTAssertFalse(samples.isEmpty, "what fitted is still served")
        XCTAssertEqual(agent.terminate().status, 0)
    }
}

/// Short-lived processes by the thousand: what the agent keeps per process and
/// per thread (BPF maps, metadata) must go when they go. `make soak` runs the
/// same for 5 minutes and also checks RSS growth.
final class ChurnTests: AgentTestCase {
    func testProcessChurnLeavesNoEntriesOfExitedProcesses() throws {
        let agent = try DaemonProcess(["--window", "5", "--syscall-containers", "8"])
        let copies = TestEnvironment.packageRoot.appendingPathComponent(".build/test-scratch/churn-\(UUID().uuidString)")
        addTeardownBlock { try? FileManager.default.removeItem(at: copies) }
        let churn = try Command.run("/usr/bin/python3", [TestEnvironment.packageRoot.appendingPathComponent("Fixtures/churn.py").path,
                                                         TestEnvironment.fixture("churn_child"), copies.path, "30", "2000"])
        XCTAssertEqual(churn.status, 0, churn.stderr)
        let started = try XCTUnwrap(Int(churn.output.split(separator: " ").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""))
        XCTAssertGreaterThan(started, 900)

        let check = try Command.run("/usr/bin/python3", [TestEnvironment.packageRoot.appendingPathComponent("bench/stats.py").path,
                                                         "stale", "\(agent.process.processIdentifier)"])
        XCTAssertEqual(check.status, 0, check.stderr)
        let maps = try XCTUnwrap(JSONSerialization.jsonObject(with: check.stdout) as? [String: [Int]])
        XCTAssertEqual(Set(maps.keys), ["syscall_spans", "event_spans", "pending_calls", "offcpu_starts", "syscall_process"], "\(maps)")
        for (name, counts) in maps {
            XCTAssertEqual(counts[1], 0, "\(name): entries of exited threads outlive the cleanup: \(maps)")
        }
        let metrics = try agent.getText("/metrics")
        for series in ["profiler_agent_samples_dropped_total{reason=\"map_full\"}", "profiler_agent_offcpu_dropped_total",
                       "profiler_agent_syscall_process_map_full_total", "profiler_agent_syscall_spans_full_total"] {
            XCTAssertEqual(DaemonProcess.metric(series, in: metrics), 0, series)
        }
        // README: metadata of a process is dropped once it has gone 16 to 32 drains (1 s each) without a
        // sample. All of the churn has exited: within 32 s + slack, only live processes may be tracked.
        var tracked = try XCTUnwrap(DaemonProcess.metric("profiler_agent_tracked_processes", in: metrics))
        let deadline = Date().addingTimeInterval(40)
        var live = Self.liveProcesses()
        while tracked > Double(live), Date() < deadline {
            Thread.sleep(forTimeInterval: 1)
            tracked = try XCTUnwrap(DaemonProcess.metric("profiler_agent_tracked_processes", in: try agent.getText("/metrics")))
            live = Self.liveProcesses()
        }
        XCTAssertLessThanOrEqual(tracked, Double(live),
                                 "process metadata of the \(started) exited processes must be dropped within 32 drains; \(live) processes are alive")
        XCTAssertEqual(agent.terminate().status, 0)
    }

    static func liveProcesses() -> Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).filter { Int32($0) != nil }.count
    }
}
