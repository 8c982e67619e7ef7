import Foundation
import Pprof
import TestSupport
import XCTest

/// `profiler-agent record` on real processes, checked by our decoder and by `go tool pprof`.
final class RecordTests: AgentTestCase {
    func testCPUSplitFixtureChainAndRatio() throws {
        let fixture = try startFixture("cpu_split")
        let pid = fixture.processIdentifier
        let output = scratch.appendingPathComponent("cpu.pb.gz").path
        let result = try agent(["record", "--pid", String(pid), "--duration", "5", "--output", output])
        XCTAssertEqual(result.status, 0, result.stderr)
        let samples = PprofReader.flatten(try PprofReader.decode(Data(contentsOf: URL(fileURLWithPath: output))))

        XCTAssertTrue(samples.allSatisfy { $0.numericLabels["pid"] == Int64(pid) }, "the pid filter let other processes through")
        XCTAssertTrue(samples.allSatisfy { $0.labels["comm"] == "cpu_split" && $0.numericLabels["tid"] == Int64(pid) })
        assertCPUSplit(samples)

        // The real consumer must read it and list both functions.
        guard let go = TestEnvironment.which("go") else { throw ReferenceToolMissing(name: "go") }
        let top = try Command.run(go, ["tool", "pprof", "-top", output])
        XCTAssertEqual(top.status, 0, "go tool pprof rejected the profile: \(top.stderr)")
        XCTAssertTrue(top.output.contains("burn_three_quarters"), top.output)
        XCTAssertTrue(top.output.contains("burn_one_quarter"), top.output)
    }

    func testKernelFramesSitAboveUserFrames() throws {
        let fixture = try startFixture("read_loop")
        let samples = try record(["--pid", String(fixture.processIdentifier), "--duration", "3"])
        let total = samples.reduce(0) { $0 + $1.count }
        let withKernel = samples.filter { !$0.kernelFunctions.isEmpty }
        XCTAssertGreaterThan(withKernel.reduce(0) { $0 + $1.count } * 2, total, "most of read_loop's time is in read(2)")
        for sample in samples {
            let firstUser = sample.mappings.firstIndex { $0 != "[kernel.kallsyms]" } ?? sample.mappings.count
            XCTAssertFalse(sample.mappings[firstUser...].contains("[kernel.kallsyms]"), "kernel frame below a user frame: \(sample.functions)")
        }
        let kernelNames = Set(withKernel.flatMap(\.kernelFunctions))
        XCTAssertTrue(kernelNames.contains("ksys_read") || kernelNames.contains("vfs_read"), "kernel frames: \(kernelNames.sorted())")
        let chained = withKernel.filter { Array($0.userFunctions.prefix(3)) == ["read_chunk", "read_forever", "main"] }
        XCTAssertGreaterThan(chained.reduce(0) { $0 + $1.count } * 10, withKernel.reduce(0) { $0 + $1.count } * 9,
                             "kernel samples should sit on read_chunk→read_forever→main")
    }

    func testAllProcessesAndFoldedFormat() throws {
        let fixture = try startFixture("cpu_split")
        let other = try startFixture("read_loop")  // a second busy process: both must appear
        let output = scratch.appendingPathComponent("all.folded").path
        let result = try agent(["record", "--duration", "2", "--format", "folded", "--output", output])
        XCTAssertEqual(result.status, 0, result.stderr)
        let lines = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n")
        XCTAssertFalse(lines.isEmpty)
        for line in lines {
            let parts = line.split(separator: " ")
            XCTAssertNotNil(Int(parts.last ?? ""), "no count at the end of '\(line)'")
        }
        XCTAssertTrue(lines.contains { $0.hasPrefix("cpu_split;") && $0.contains(";main;run_workload;spin_dispatch;burn_three_quarters ") },
                      "cpu_split's stack is missing from a whole-machine recording")
        XCTAssertTrue(lines.contains { $0.hasPrefix("read_loop;") && $0.contains(";read_forever;read_chunk;") },
                      "every process is sampled without --pid")
        _ = (fixture, other)
    }

    func testCtrlCStopsEarlyAndKeepsWhatWasCollected() throws {
        _ = try startFixture("cpu_split")
        let output = scratch.appendingPathComponent("interrupted.pb.gz").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: TestEnvironment.agent)
        process.arguments = ["record", "--duration", "60", "--output", output]
        process.standardError = FileHandle.nullDevice
        try process.run()
        Thread.sleep(forTimeInterval: 2.5)
        let interruptedAt = Date()
        process.interrupt()  // SIGINT, as Ctrl-C
        process.waitUntilExit()
        XCTAssertLessThan(Date().timeIntervalSince(interruptedAt), 5, "the agent took too long to stop")
        XCTAssertEqual(process.terminationReason, .exit)
        XCTAssertEqual(process.terminationStatus, 0)
        let samples = PprofReader.flatten(try PprofReader.decode(Data(contentsOf: URL(fileURLWithPath: output))))
        XCTAssertTrue(samples.contains { $0.functions.contains("burn_three_quarters") }, "samples collected before Ctrl-C were lost")
    }
}
