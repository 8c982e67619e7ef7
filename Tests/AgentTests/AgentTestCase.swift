import Foundation
import Pprof
import TestSupport
import XCTest

/// Shared plumbing for tests that run the real agent binary on real BPF.
class AgentTestCase: XCTestCase {
    var scratch: URL!

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

    /// Runs `profiler-agent ARGS…`.
    func agent(_ arguments: [String], input: Data? = nil) throws -> CommandResult {
        let result = try Command.run(TestEnvironment.agent, arguments, input: input)
        XCTAssertFalse(result.killedBySignal, "the agent crashed: \(result.stderr)")
        return result
    }

    /// Records with `arguments` into a file and returns the flattened samples.
    func record(_ arguments: [String]) throws -> [PprofReader.FlatSample] {
        let output = scratch.appendingPathComponent("profile-\(UUID().uuidString).pb.gz").path
        let result = try agent(["record", "--output", output] + arguments)
        XCTAssertEqual(result.status, 0, result.stderr)
        return PprofReader.flatten(try PprofReader.decode(Data(contentsOf: URL(fileURLWithPath: output))))
    }

    /// No program of ours may remain loaded once the agent has exited.
    func assertNothingAttached(file: StaticString = #filePath, line: UInt = #line) throws {
        let bpftool = TestEnvironment.which("bpftool") ?? "/usr/sbin/bpftool"
        let programs = try Command.run(bpftool, ["prog", "show"])
        XCTAssertEqual(programs.status, 0, programs.stderr, file: file, line: line)
        XCTAssertFalse(programs.output.contains("profile_sample"), "a profiler program is still loaded:\n\(programs.output)", file: file, line: line)
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
