import Foundation
import Pprof
import TestSupport
import XCTest

/// Shared plumbing for tests that run the real agent binary on real BPF.
class AgentTestCase: XCTestCase {
    var scratch: URL!
    /// Added to the environment of the agents this test runs (test knobs such as
    /// `PROFILER_AGENT_UNWIND_WITHOUT`).
    var agentEnvironment: [String: String] = [:]
    /// Standard error of the last agent run by `agent`.
    var lastAgentStderr = ""

    override func setUpWithError() throws {
        scratch = TestEnvironment.temporaryDirectory()
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: TestEnvironment.agent),
                      "\(TestEnvironment.agent) is missing: run `make build` first")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: scratch)
        try assertNothingAttached()
    }

    /// Starts a fixture that runs for `seconds` and gives it a moment to get going.
    func startFixture(_ name: String, seconds: Int = 60) throws -> Process {
        try startFixture(name, arguments: [String(seconds)])
    }

    func startFixture(_ name: String, arguments: [String]) throws -> Process {
        let process = try Command.start(TestEnvironment.fixture(name), arguments)
        Thread.sleep(forTimeInterval: 0.3)
        addTeardownBlock {
            if process.isRunning { process.terminate() }
            process.waitUntilExit()
        }
        return process
    }

    /// Runs `profiler-agent ARGS…`, watching the BPF objects it holds (checked at teardown).
    func agent(_ arguments: [String], input: Data? = nil) throws -> CommandResult {
        var watch: BPFObjectWatch?
        let environment = agentEnvironment.isEmpty ? nil : ProcessInfo.processInfo.environment.merging(agentEnvironment) { $1 }
        let result = try Command.run(TestEnvironment.agent, arguments, input: input, environment: environment,
                                     started: { watch = BPFObjectWatch.start(pid: $0) }, finished: { watch?.stop() })
        XCTAssertFalse(result.killedBySignal, "the agent crashed: \(result.stderr)")
        lastAgentStderr = result.stderr
        // A recording that worked loaded programs: a watch that saw none would check nothing.
        if arguments.first == "record", result.status == 0 { watch?.mustHaveSeenPrograms = true }
        return result
    }

    /// Records with `arguments` into a file and returns the flattened samples.
    func record(_ arguments: [String]) throws -> [PprofReader.FlatSample] {
        let output = scratch.appendingPathComponent("profile-\(UUID().uuidString).pb.gz").path
        let result = try agent(["record", "--output", output] + arguments)
        XCTAssertEqual(result.status, 0, result.stderr)
        return PprofReader.flatten(try PprofReader.decode(Data(contentsOf: URL(fileURLWithPath: output))))
    }

    /// Every BPF program, link and map the agents of this test held (seen through their
    /// /proc/PID/fdinfo while they ran) must be gone once they have exited. Only theirs:
    /// another agent on the machine neither fails this nor hides a leak.
    func assertNothingAttached(file: StaticString = #filePath, line: UInt = #line) throws {
        let watches = BPFObjectWatch.takeAll()
        var held = BPFObjectWatch.Seen()
        for watch in watches {
            let deadline = Date().addingTimeInterval(10)
            while kill(watch.pid, 0) == 0, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
            XCTAssertNotEqual(kill(watch.pid, 0), 0, "agent \(watch.pid) is still running at teardown", file: file, line: line)
            watch.stop()
            let seen = watch.objects
            if watch.mustHaveSeenPrograms {
                XCTAssertFalse(seen.programs.isEmpty, "agent \(watch.pid) ran BPF but no program of it was seen", file: file, line: line)
            }
            held.programs.formUnion(seen.programs)
            held.links.formUnion(seen.links)
            held.maps.formUnion(seen.maps)
        }
        guard !(held.programs.isEmpty && held.links.isEmpty && held.maps.isEmpty) else { return }
        // The kernel frees objects shortly after the last reference is dropped (RCU): allow it a moment.
        var left: (programs: Set<UInt32>, links: Set<UInt32>, maps: Set<UInt32>) = ([], [], [])
        for _ in 0..<50 {
            left = (held.programs.intersection(try loadedIDs("prog")), held.links.intersection(try loadedIDs("link")),
                    held.maps.intersection(try loadedIDs("map")))
            if left.programs.isEmpty && left.links.isEmpty && left.maps.isEmpty { return }
            Thread.sleep(forTimeInterval: 0.1)
        }
        XCTFail("still loaded after the agent exited: programs \(left.programs.sorted()) (of \(held.programs.count)), "
                + "links \(left.links.sorted()) (of \(held.links.count)), maps \(left.maps.sorted()) (of \(held.maps.count))",
                file: file, line: line)
    }

    /// Ids of the loaded BPF objects of a kind ("prog", "link", "map"), from bpftool.
    func loadedIDs(_ kind: String) throws -> Set<UInt32> {
        let bpftool = TestEnvironment.which("bpftool") ?? "/usr/sbin/bpftool"
        let listed = try Command.run(bpftool, ["-j", kind, "show"])
        XCTAssertEqual(listed.status, 0, listed.stderr)
        let objects = try JSONSerialization.jsonObject(with: listed.stdout) as? [[String: Any]] ?? []
        return Set(objects.compactMap { ($0["id"] as? NSNumber)?.uint32Value })
    }
}

extension AgentTestCase {
    /// The foundation's accuracy bar for cpu_split: ≥95% of its samples carry
    /// main→run_workload→spin_dispatch→burn_*, split 75/25 ± 5 points.
    func assertCPUSplit(_ samples: [PprofReader.FlatSample], file: StaticString = #filePath, line: UInt = #line) {
        let total = samples.reduce(0) { $0 + $1.count }
        XCTAssertGreaterThan(total, 300, "5 s at 97 Hz of a busy thread should give ~485 samples", file: file, line: line)
        var full: Int64 = 0, threeQuarters: Int64 = 0, oneQuarter: Int64 = 0
        for sample in samples {
            let user = sample.userFunctions
            guard user.count >= 4, ["spin_dispatch", "run_workload", "main"] == Array(user[1...3]) else { continue }
            switch user[0] {
            case "burn_three_quarters": threeQuarters += sample.count
            case "burn_one_quarter": oneQuarter += sample.count
            default: continue
            }
            full += sample.count
        }
        XCTAssertGreaterThanOrEqual(Double(full) / Double(max(total, 1)), 0.95,
                                    "only \(full) of \(total) samples carry main→run_workload→spin_dispatch→burn_*", file: file, line: line)
        let split = Double(threeQuarters) / Double(max(threeQuarters + oneQuarter, 1)) * 100
        XCTAssertEqual(split, 75, accuracy: 5, "split \(threeQuarters):\(oneQuarter)", file: file, line: line)
    }
}

extension PprofReader.FlatSample {
    /// Frames below the kernel ones: the user stack, leaf first.
    var userFunctions: [String] { zip(functions, mappings).filter { $0.1 != "[kernel.kallsyms]" }.map(\.0) }
    var kernelFunctions: [String] { zip(functions, mappings).filter { $0.1 == "[kernel.kallsyms]" }.map(\.0) }
    var count: Int64 { values.first ?? 0 }
}
