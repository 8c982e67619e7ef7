import Foundation
import Pprof
import TestSupport
import XCTest

/// Processes that exit before the next drain keep their names: the agent keeps the maps
/// it read when each one exec'd (and the binaries of its code), and names its samples
/// from those once the process is gone.
final class ShortLivedProcessTests: AgentTestCase {
    func testTwoHundredProcessesOf300MillisecondsAreNamed() throws {
        let child = TestEnvironment.fixture("churn_child")
        // Two at a time, 100 rounds: one runs the fixture, the other a fresh copy of it that
        // is deleted while it runs (a new inode each time, reachable only through the live
        // process, as a container's files are once it has gone).
        let script = """
            sleep 3
            for i in $(seq 1 100); do
              "$1" 300 &
              cp "$1" "$2/churn_copy_$i" && "$2/churn_copy_$i" 300 &
              sleep 0.1; rm -f "$2/churn_copy_$i"
              wait
            done
            """
        let workload = try Command.start("/bin/bash", ["-c", script, "churn", child, scratch.path])
        addTeardownBlock { if workload.isRunning { workload.terminate() }; workload.waitUntilExit() }
        let samples = try record(["--duration", "40"])
        workload.waitUntilExit()
        XCTAssertEqual(workload.terminationStatus, 0, "the workload failed")

        var report: [String] = []
        for (kind, isCopy) in [("fixture", false), ("deleted copies", true)] {
            let ours = samples.filter { sample in
                guard let comm = sample.labels["comm"] else { return false }
                return isCopy ? comm.hasPrefix("churn_copy_") : comm == "churn_child"
            }
            let total = ours.reduce(0) { $0 + ($1.values.first ?? 0) }
            let named = ours.filter { $0.functions.contains("churn_spin") }.reduce(0) { $0 + ($1.values.first ?? 0) }
            let exited = ours.filter { $0.functions.contains("[exited]") }.reduce(0) { $0 + ($1.values.first ?? 0) }
            let processes = Set(ours.compactMap { $0.numericLabels["pid"] }).count
            let line = String(format: "%@: %d processes, %d samples, %.1f %% in churn_spin, %d with [exited] frames",
                              kind, processes, total, 100 * Double(named) / Double(max(total, 1)), exited)
            report.append(line)
            // 100 processes x 300 ms at 97 Hz: about 2,900 samples; some rounds may start before the agent.
            XCTAssertGreaterThanOrEqual(processes, 90, line)
            XCTAssertGreaterThan(total, 2_000, line)
            XCTAssertGreaterThanOrEqual(Double(named), 0.95 * Double(total), line)
        }
        print(report.joined(separator: "\n"))
    }
}
