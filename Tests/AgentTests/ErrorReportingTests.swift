import AgentCore
import Foundation
import TestSupport
import XCTest

/// Every failure is one clear message, a non-zero exit, and nothing left attached.
final class ErrorReportingTests: AgentTestCase {
    func testUnknownPID() throws {
        let result = try agent(["record", "--pid", "2147480000", "--duration", "1", "--output", scratch.appendingPathComponent("x").path])
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.stderr.contains("no process with PID 2147480000"), result.stderr)
    }

    func testUnprivilegedUserIsToldWhichCapabilitiesAreMissing() throws {
        let result = try Command.run("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
                                                          TestEnvironment.agent, "record", "--duration", "1", "--output", "/tmp/never-written"])
        XCTAssertFalse(result.killedBySignal)
        XCTAssertEqual(result.status, 1, result.stderr)
        XCTAssertTrue(result.stderr.contains("insufficient privileges"), result.stderr)
        XCTAssertTrue(result.stderr.contains("CAP_BPF") && result.stderr.contains("CAP_PERFMON"), result.stderr)
        XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, "one message, not a stack of them: \(result.stderr)")
    }

    func testMissingBTF() throws {
        let result = try agent(["record", "--btf", "/nonexistent/vmlinux", "--duration", "1", "--output", scratch.appendingPathComponent("x").path])
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.stderr.contains("kernel BTF not found at /nonexistent/vmlinux"), result.stderr)
    }

    func testVerifierRejectionShowsTheVerifiersLastLines() throws {
        XCTAssertThrowsError(try SelfTest.loadProgramTheVerifierRejects()) { error in
            guard case AgentError.bpfLoadFailed(let object, _, let log) = error else {
                return XCTFail("expected bpfLoadFailed, got \(error)")
            }
            XCTAssertEqual(object, "verifier_reject")
            XCTAssertTrue(log.contains { $0.contains("invalid mem access") }, "verifier verdict missing from:\n\(log.joined(separator: "\n"))")
            XCTAssertTrue("\(error)".contains("last lines of the libbpf/verifier log"))
        }
    }

    func testBadOptionValues() throws {
        let zeroHz = try agent(["record", "--frequency", "0", "--duration", "1"])
        XCTAssertEqual(zeroHz.status, 1)
        XCTAssertTrue(zeroHz.stderr.contains("--frequency must be between 1 and 10000"), zeroHz.stderr)
        let badFormat = try agent(["record", "--format", "svg"])
        XCTAssertNotEqual(badFormat.status, 0)
        XCTAssertTrue(badFormat.stderr.contains("svg"), badFormat.stderr)
    }

    func testUnwritableOutputIsReportedAfterSampling() throws {
        let result = try agent(["record", "--duration", "1", "--output", "/nonexistent-dir/cpu.pb.gz"])
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.stderr.contains("cannot write /nonexistent-dir/cpu.pb.gz"), result.stderr)
    }
}

/// `--duration` is bounded: `inf` or `1e19` on a terminal used to trap in the progress line.
final class DurationLimitTests: AgentTestCase {
    func testUnboundedDurationsAreRejectedWithAMessage() throws {
        for duration in ["inf", "1e19", "nan", "-1", "0", "2678401"] {
            // script(1) gives the agent a terminal, so the progress line is on (as for a user at a shell);
            // timeout(1) bounds a regression that would sample forever.
            let command = "\(TestEnvironment.agent) record --duration=\(duration) --output \(scratch.path)/x.pb.gz"
            let result = try Command.run("/usr/bin/timeout", ["20", "/usr/bin/script", "-qec", command, "/dev/null"])
            XCTAssertEqual(result.status, 1, "--duration \(duration): \(result.output)")
            XCTAssertTrue(result.output.contains("--duration must be a number of seconds above 0 and at most 2678400 (31 days)"),
                          "--duration \(duration): \(result.output)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(scratch.path)/x.pb.gz"), "nothing recorded")
    }

    func testLongestDurationIsAccepted() throws {
        XCTAssertNoThrow(try DurationLimits.checkRecording(DurationLimits.maximumSeconds))
        XCTAssertNoThrow(try DurationLimits.checkRecording(0.001))
        XCTAssertThrowsError(try DurationLimits.checkRecording(.infinity))
        XCTAssertThrowsError(try DurationLimits.checkRecording(.nan))
    }
}
