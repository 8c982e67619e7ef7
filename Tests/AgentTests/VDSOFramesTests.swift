import Foundation
import Pprof
import TestSupport
import XCTest

/// `[vdso]` frames named from the kernel's vDSO image, judged against `perf record -g`
/// (which copies the same image) on the same process at the same time.
final class VDSOFramesTests: AgentTestCase {
    func testClockGettimeInTheVDSOIsNamedAsPerfNamesIt() throws {
        let target = try Command.start(TestEnvironment.fixture("vdso_loop"), ["30"])
        addTeardownBlock { target.terminate(); target.waitUntilExit() }
        Thread.sleep(forTimeInterval: 0.3)
        let pid = String(target.processIdentifier)
        let data = scratch.appendingPathComponent("perf.data").path
        let perfTool = try XCTUnwrap(TestEnvironment.which("perf"), "perf missing: apt-get install linux-perf")
        let perf = try Command.start(perfTool, ["record", "-q", "-F", "400", "-g", "-p", pid, "-o", data, "--", "sleep", "5"])
        let samples = try record(["--pid", pid, "--duration", "5"])
        perf.waitUntilExit()
        // perf's leaf of each sample: "ip symbol (object)".
        let script = try Command.run(perfTool, ["script", "-i", data, "-F", "ip,sym,dso", "-G"])
        XCTAssertEqual(script.status, 0, script.stderr)
        let perfLeaves = script.output.split(separator: "\n").compactMap { line -> String? in
            let fields = line.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
            return fields.count == 2 ? String(fields[1]) : nil
        }
        let perfNamed = perfLeaves.filter { $0 == "__vdso_clock_gettime ([vdso])" }.count
        var total: Int64 = 0, named: Int64 = 0, placeholders: Int64 = 0
        for sample in samples {
            let count = sample.values.first ?? 0
            total += count
            guard sample.mappings.first == "[vdso]" else { continue }
            if sample.functions.first == "__vdso_clock_gettime" { named += count }
            if sample.functions.first?.hasPrefix("[") == true { placeholders += count }
        }
        let ours = Double(named) / Double(max(total, 1)), theirs = Double(perfNamed) / Double(max(perfLeaves.count, 1))
        let report = String(format: "vdso: agent %d samples, %.1f %% __vdso_clock_gettime ([vdso]), %d unnamed [vdso]; perf %d samples, %.1f %%",
                            total, 100 * ours, placeholders, perfLeaves.count, 100 * theirs)
        print(report)
        XCTAssertGreaterThan(total, 300, report)
        XCTAssertGreaterThan(perfLeaves.count, 1200, report)
        XCTAssertEqual(placeholders, 0, report)
        XCTAssertGreaterThanOrEqual(theirs, 0.7, "the fixture spent too little time in the vDSO to judge\n\(report)")
        XCTAssertEqual(ours, theirs, accuracy: 0.05, report)
    }
}
