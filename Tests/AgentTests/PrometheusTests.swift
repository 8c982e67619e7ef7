import Foundation
import Pprof
import TestSupport
import XCTest

/// Real Prometheus (Debian's, with exemplar storage) scrapes the agent: the
/// scrape never fails, and a stored span_id exemplar leads to a profile.
final class PrometheusTests: AgentTestCase {
    /// The agent's profile of `span`, once the window holding it closed.
    func spanProfile(_ agent: DaemonProcess, _ span: String) throws -> Data {
        var profile = try agent.get("/profiles?span_id=\(span)")
        for _ in 0..<30 where profile.status == 404 {
            Thread.sleep(forTimeInterval: 0.5)
            profile = try agent.get("/profiles?span_id=\(span)")
        }
        XCTAssertEqual(profile.status, 200, String(decoding: profile.body, as: UTF8.self))
        return profile.body
    }

    func testPrometheusStoresExemplarsThatLeadToProfiles() throws {
        let sleeper = try startFixture("sleeper", arguments: ["0.5", "200"])  // 50 ms sleeps for ~10 s
        let agent = try DaemonProcess(["--window", "2", "--pid", String(sleeper.processIdentifier)])
        let port = try startPrometheus(scraping: agent.port)
        let exemplars = storedExemplars(port, "profiler_syscall_latency_seconds_bucket{syscall=\"nanosleep\"}", minimum: 0.04)
        let exemplar = try XCTUnwrap(exemplars.last, "Prometheus stored no exemplar for the 50 ms nanosleep bucket")
        let span = try XCTUnwrap((exemplar["labels"] as? [String: String])?["span_id"])
        XCTAssertEqual(span.count, 16)
        try assertScrapesNeverFailed(port)

        // The exemplar's span opens the profile of that very sleep (once its window closed).
        let file = scratch.appendingPathComponent("exemplar.pb.gz")
        try spanProfile(agent, span).write(to: file)
        var top = try Command.run(TestEnvironment.which("go") ?? "/usr/bin/go", ["tool", "pprof", "-top", "-sample_index=offcpu", file.path])
        XCTAssertEqual(top.status, 0, top.stderr)
        if !top.output.contains("sleep_once") {
            // Seen once in CI: that sleep's profile had its kernel frames but no user frames. Only
            // that case may have an earlier exemplar stand in, and only when it is this span's own
            // loss: its profile is that very sleep in the kernel with no user stack at all, and the
            // agent counted a lost user stack.
            let samples = PprofReader.flatten(try PprofReader.decode(try Data(contentsOf: file)))
            XCTAssertFalse(samples.isEmpty, "the span's profile is empty:\n\(top.output)")
            XCTAssertTrue(samples.allSatisfy { $0.userFunctions.isEmpty && $0.kernelFunctions.contains { $0.contains("nanosleep") } },
                          "the span's profile is not a sleep whose user stack was lost:\n\(top.output)")
            let dropped = try agent.getText("/metrics").split(separator: "\n").filter {
                $0.hasPrefix("profiler_agent_offcpu_stacks_dropped_total{kind=\"user\"}") || $0.hasPrefix("profiler_agent_offcpu_stacks_dropped_total{kind=\"missing\"}")
            }.compactMap { Double($0.split(separator: " ").last ?? "") }.reduce(0, +)
            XCTAssertGreaterThan(dropped, 0, "the profile lacks the user stack and the agent counted no loss:\n\(top.output)")
            let earlier = try XCTUnwrap((exemplars.dropLast().last?["labels"] as? [String: String])?["span_id"])
            try spanProfile(agent, earlier).write(to: file)
            top = try Command.run(TestEnvironment.which("go") ?? "/usr/bin/go", ["tool", "pprof", "-top", "-sample_index=offcpu", file.path])
        }
        XCTAssertTrue(top.output.contains("sleep_once"), top.output)
    }

    /// The deploy issue's end-to-end check: Prometheus scrapes the agent while the
    /// DNS and syscall fixtures run; a stored DNS exemplar opens that lookup's profile.
    func testPrometheusStoresDNSExemplarsThatLeadToTheLookupProfile() throws {
        let dns = try DNSFixture(test: self)
        let agent = try DaemonProcess(["--window", "2", "--tracers", "dns,syscall,offcpu"])
        let port = try startPrometheus(scraping: agent.port)
        let sleeper = try startFixture("sleeper", arguments: ["0.5", "200"])
        let lookups = try dns.startLookups(100, prefix: "e2e-", startDelay: 1500, endDelay: 3000)  // 80 ms each, ~8 s
        addTeardownBlock { if lookups.isRunning { lookups.terminate() }; lookups.waitUntilExit() }

        let exemplars = storedExemplars(port, "profiler_dns_lookup_duration_seconds_bucket", minimum: 0.08)
        let exemplar = try XCTUnwrap(exemplars.last, "Prometheus stored no exemplar for the 80 ms DNS bucket")
        let span = try XCTUnwrap((exemplar["labels"] as? [String: String])?["span_id"])
        XCTAssertEqual(span.count, 16)
        XCTAssertFalse(storedExemplars(port, "profiler_syscall_latency_seconds_bucket", minimum: 0).isEmpty, "syscall exemplars are stored too")
        try assertScrapesNeverFailed(port)
        XCTAssertTrue(sleeper.isRunning)

        let file = scratch.appendingPathComponent("dns-exemplar.pb.gz")
        try spanProfile(agent, span).write(to: file)
        let traces = try Command.run(TestEnvironment.which("go") ?? "/usr/bin/go", ["tool", "pprof", "-traces", file.path])
        XCTAssertEqual(traces.status, 0, traces.stderr)
        XCTAssertTrue(traces.output.contains("resolve_slowly"), traces.output)
    }
}
