import Foundation
import Pprof
import TestSupport
import XCTest

/// `profiler-agent run` on real BPF, checked through its HTTP API by real consumers.
final class DaemonTests: AgentTestCase {
    func decode(_ data: Data) throws -> [PprofReader.FlatSample] { PprofReader.flatten(try PprofReader.decode(data)) }

    func testProfilesWindowsAndErrorsOverHTTP() throws {
        let fixture = try startFixture("cpu_split")
        let agent = try DaemonProcess(["--window", "2"])
        XCTAssertEqual(try agent.getText("/healthz"), "ok\n")
        XCTAssertEqual(try agent.get("/readyz").status, 200)

        // Go's convention: block N seconds, return pprof.
        let started = Date()
        let pulled = try agent.get("/debug/pprof/profile?seconds=3")
        XCTAssertEqual(pulled.status, 200)
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(started), 2.9)
        XCTAssertTrue(try decode(pulled.body).contains { $0.functions.first == "burn_three_quarters" })
        let file = scratch.appendingPathComponent("pulled.pb.gz")
        try pulled.body.write(to: file)
        let top = try Command.run(TestEnvironment.which("go") ?? "/usr/bin/go", ["tool", "pprof", "-top", file.path])
        XCTAssertEqual(top.status, 0, top.stderr)
        XCTAssertTrue(top.output.contains("burn_three_quarters"), top.output)

        let filtered = try decode(try agent.get("/debug/pprof/profile?seconds=1&pid=\(fixture.processIdentifier)").body)
        XCTAssertFalse(filtered.isEmpty)
        XCTAssertTrue(filtered.allSatisfy { $0.numericLabels["pid"] == Int64(fixture.processIdentifier) })

        // Closed windows: listed, served as pprof and folded.
        var windows: [[String: Any]] = []
        for _ in 0..<40 where windows.isEmpty {
            windows = (try JSONSerialization.jsonObject(with: try agent.get("/profiles").body) as? [[String: Any]]) ?? []
            if windows.isEmpty { Thread.sleep(forTimeInterval: 0.2) }
        }
        let id = try XCTUnwrap(windows.last?["id"] as? Int, "no window closed: \(windows)")
        XCTAssertNotNil(windows.last?["start"] as? String)
        let window = try agent.get("/profiles/\(id)")
        XCTAssertEqual(window.status, 200)
        XCTAssertTrue(try decode(window.body).contains { $0.functions.contains("burn_one_quarter") })
        let folded = try agent.getText("/profiles/\(id)?format=folded")
        XCTAssertTrue(folded.contains(";run_workload;spin_dispatch;burn_three_quarters "), folded)
        let flamegraph = try agent.get("/flamegraph?id=\(id)")
        XCTAssertEqual(flamegraph.status, 200)
        XCTAssertTrue(String(decoding: flamegraph.body, as: UTF8.self).contains(">burn_three_quarters</td>"))

        // Bad parameters are 400 with a message, unknown ids 404.
        for (path, status) in [("/profiles/999999", 404), ("/profiles/abc", 400), ("/debug/pprof/profile?seconds=0", 400),
                               ("/debug/pprof/profile?seconds=61", 400), ("/debug/pprof/profile?seconds=x", 400),
                               ("/debug/pprof/profile?seconds=1&pid=-3", 400), ("/profiles/\(id)?format=svg", 400),
                               ("/profiles?span_id=zz", 400), ("/profiles?span_id=1", 404), ("/flamegraph?id=424242", 404),
                               ("/no-such-page", 404)] {
            let response = try agent.get(path)
            XCTAssertEqual(response.status, status, path)
            if status == 400 { XCTAssertTrue(String(decoding: response.body, as: UTF8.self).contains("must"), path) }
        }

        let exit = agent.terminate()
        XCTAssertEqual(exit.status, 0, agent.stderr)
        XCTAssertLessThan(exit.seconds, 2, "SIGTERM must end the agent within 2 s")
    }

    /// Request bounds: bodies are refused unread (413), oversized queries are 400,
    /// and profile requests beyond the concurrency limit get 429 at once.
    func testRequestBodiesOversizedQueriesAndTooManyProfileRequestsAreRefused() throws {
        _ = try startFixture("cpu_split")
        let agent = try DaemonProcess(["--window", "2"])
        let posted = try agent.get("/debug/pprof/profile?seconds=1", curlOptions: ["--data-binary", String(repeating: "x", count: 100_000)])
        XCTAssertEqual(posted.status, 413, String(decoding: posted.body, as: UTF8.self))
        let chunked = try agent.get("/metrics", curlOptions: ["-X", "GET", "-H", "Transfer-Encoding: chunked", "--data-binary", "abc"])
        XCTAssertEqual(chunked.status, 413)
        let long = try agent.get("/profiles?x=" + String(repeating: "a", count: 5000))
        XCTAssertEqual(long.status, 400)
        XCTAssertTrue(String(decoding: long.body, as: UTF8.self).contains("at most 4096"))
        let many = try agent.get("/profiles?" + (0..<65).map { "p\($0)=1" }.joined(separator: "&"))
        XCTAssertEqual(many.status, 400)
        let pids = try agent.get("/debug/pprof/profile?seconds=1&pid=" + (1...300).map(String.init).joined(separator: ","))
        XCTAssertEqual(pids.status, 400)

        // Four profile requests are served at once (the default); the fifth is told to retry.
        var curls: [(Process, Pipe)] = []
        for _ in 0..<6 {
            let process = Process(), pipe = Pipe()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
            process.arguments = ["-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(agent.port)/debug/pprof/profile?seconds=3"]
            process.standardOutput = pipe
            try process.run()
            curls.append((process, pipe))
        }
        let statuses = LockedBox(curls.map { process, pipe in
            let output = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return Int(String(decoding: output, as: UTF8.self)) ?? -1
        })
        XCTAssertEqual(statuses.get().filter { $0 == 200 }.count, 4, "\(statuses.get())")
        XCTAssertEqual(statuses.get().filter { $0 == 429 }.count, 2, "\(statuses.get())")
        XCTAssertEqual(try agent.get("/readyz").status, 200)
        XCTAssertEqual(agent.terminate().status, 0)
    }

    func testMetricsInBothFormats() throws {
        _ = try startFixture("cpu_split")
        let agent = try DaemonProcess(["--window", "2"])
        let open = try agent.get("/metrics", accept: "application/openmetrics-text; version=1.0.0; charset=utf-8")
        XCTAssertEqual(open.status, 200)
        XCTAssertTrue(open.headers["content-type"]?.hasPrefix("application/openmetrics-text; version=1.0.0") == true, "\(open.headers)")
        let openText = String(decoding: open.body, as: UTF8.self)
        XCTAssertTrue(openText.hasSuffix("# EOF\n"))
        let first = try XCTUnwrap(DaemonProcess.metric("profiler_agent_samples_total", in: openText))

        Thread.sleep(forTimeInterval: 2)
        let plain = try agent.get("/metrics")
        XCTAssertTrue(plain.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true, "\(plain.headers)")
        let plainText = String(decoding: plain.body, as: UTF8.self)
        XCTAssertFalse(plainText.contains("# EOF"))
        XCTAssertFalse(plainText.contains(" # {"), "exemplars are not allowed in the 0.0.4 text format")
        let second = try XCTUnwrap(DaemonProcess.metric("profiler_agent_samples_total", in: plainText))
        XCTAssertGreaterThan(second, first)
        for name in ["profiler_agent_windows_closed_total", "profiler_agent_symbol_cache_misses_total", "profiler_agent_resident_memory_bytes"] {
            XCTAssertNotNil(DaemonProcess.metric(name, in: plainText), name)
        }
        XCTAssertGreaterThan(DaemonProcess.metric("profiler_agent_resident_memory_bytes", in: plainText) ?? 0, 1_000_000)
        XCTAssertTrue(plainText.contains("profiler_agent_bpf_program_runs_total{tracer=\"cpu\",program=\"profile_sample\"}"))
        for reason in ["stripped", "unreadable", "jit", "exited", "no_access", "unknown", "kernel", "python"] {
            XCTAssertTrue(plainText.contains("profiler_agent_unnamed_frames_total{reason=\"\(reason)\"}"), reason)
        }

        let promtool = try XCTUnwrap(TestEnvironment.which("promtool"), "promtool missing: apt-get install prometheus")
        let check = try Command.run(promtool, ["check", "metrics"], input: plain.body)
        XCTAssertEqual(check.status, 0, check.output + check.stderr)
    }

    func testFlamegraphPageRendersInChromium() throws {
        _ = try startFixture("cpu_split")
        let agent = try DaemonProcess(["--window", "2"])
        let page = try agent.get("/flamegraph?seconds=2")
        XCTAssertEqual(page.status, 200)
        XCTAssertTrue(page.headers["content-type"]?.hasPrefix("text/html") == true)
        let file = scratch.appendingPathComponent("flamegraph.html")
        try page.body.write(to: file)

        let dom = try HeadlessChromium.renderedDOM(file, in: scratch)
        let body = try HeadlessChromium.bodyAttributes(dom)
        XCTAssertNil(body["data-error"], "the page threw: \(body["data-error"] ?? "")")
        XCTAssertGreaterThan(Int(body["data-rendered"] ?? "") ?? 0, 5, "nothing drawn")
        XCTAssertTrue(dom.contains(">burn_three_quarters</td>"), "the fixture's hot function is missing from the page")
        let census = HeadlessChromium.colourCensus(try HeadlessChromium.screenshot(file, in: scratch))
        XCTAssertGreaterThan(census.warmShare, 0.02, "the screenshot looks blank: \(census)")
    }

    func testRetentionBudgetEvictsOldWindows() throws {
        _ = try startFixture("cpu_split")
        let agent = try DaemonProcess(["--window", "1", "--retain", "8KiB"])
        Thread.sleep(forTimeInterval: 6)
        let metrics = try agent.getText("/metrics")
        let closed = try XCTUnwrap(DaemonProcess.metric("profiler_agent_windows_closed_total", in: metrics))
        let retained = try XCTUnwrap(DaemonProcess.metric("profiler_agent_retained_windows", in: metrics))
        let bytes = try XCTUnwrap(DaemonProcess.metric("profiler_agent_retained_bytes", in: metrics))
        let evicted = try XCTUnwrap(DaemonProcess.metric("profiler_agent_windows_evicted_total", in: metrics))
        XCTAssertGreaterThanOrEqual(closed, 4)
        XCTAssertGreaterThan(evicted, 0, "old windows must be evicted")
        // The three are read a moment apart: a window may close in between.
        XCTAssertTrue(retained + evicted == closed || retained + evicted == closed + 1, "\(retained) + \(evicted) vs \(closed)")
        XCTAssertTrue(bytes <= 8 * 1024 || retained == 1, "retained \(bytes) bytes in \(retained) windows over an 8 KiB budget")
        let listed = try JSONSerialization.jsonObject(with: try agent.get("/profiles").body) as? [[String: Any]] ?? []
        XCTAssertEqual(Double(listed.count), retained)
        XCTAssertEqual(try agent.get("/profiles/1").status, 404, "window 1 should have been evicted")
    }

    func testSecondAgentDoesNotDisturbTheFirst() throws {
        _ = try startFixture("cpu_split")
        let first = try DaemonProcess(["--window", "2"])
        let second = try DaemonProcess(["--window", "2"])
        // A third on the first one's port fails cleanly.
        let clash = try Command.run(TestEnvironment.agent, ["run", "--listen", "127.0.0.1:\(first.port)"])
        XCTAssertEqual(clash.status, 1, clash.stderr)
        XCTAssertTrue(clash.stderr.contains("error"), clash.stderr)

        let before = try XCTUnwrap(DaemonProcess.metric("profiler_agent_samples_total", in: try first.getText("/metrics")))
        XCTAssertTrue(try decode(try second.get("/debug/pprof/profile?seconds=1").body).contains { $0.functions.contains("burn_three_quarters") })
        XCTAssertEqual(second.terminate().status, 0)
        Thread.sleep(forTimeInterval: 1.5)
        let after = try XCTUnwrap(DaemonProcess.metric("profiler_agent_samples_total", in: try first.getText("/metrics")))
        XCTAssertGreaterThan(after, before, "the first agent stopped sampling")
        XCTAssertTrue(try decode(try first.get("/debug/pprof/profile?seconds=1").body).contains { $0.functions.contains("burn_three_quarters") })
        XCTAssertEqual(first.terminate().status, 0)
    }
}
