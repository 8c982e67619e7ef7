import Foundation
import Pprof
import TestSupport
import XCTest

/// Real Prometheus (Debian's, with exemplar storage) scrapes the agent: the
/// scrape never fails, and a stored span_id exemplar leads to a profile.
final class PrometheusTests: AgentTestCase {
    func freePort() throws -> Int {
        let result = try Command.run("/usr/bin/python3", ["-c", "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])"])
        return try XCTUnwrap(Int(result.output.trimmingCharacters(in: .whitespacesAndNewlines)))
    }

    func query(_ port: Int, _ path: String) throws -> [String: Any] {
        let result = try Command.run("/usr/bin/curl", ["-s", "-g", "--max-time", "10", "http://127.0.0.1:\(port)\(path)"])
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any], result.output)
    }

    func testPrometheusStoresExemplarsThatLeadToProfiles() throws {
        let prometheus = try XCTUnwrap(TestEnvironment.which("prometheus"), "apt-get install prometheus")
        let sleeper = try startFixture("sleeper", arguments: ["0.5", "200"])  // 50 ms sleeps for ~10 s
        let agent = try DaemonProcess(["--window", "2", "--pid", String(sleeper.processIdentifier)])
        let port = try freePort()
        let config = scratch.appendingPathComponent("prometheus.yml")
        try """
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
            scrape_configs:
              - job_name: profiler-agent
                static_configs:
                  - targets: ["127.0.0.1:\(agent.port)"]
            """.write(to: config, atomically: true, encoding: .utf8)
        let server = try Command.start(prometheus, [
            "--config.file=\(config.path)", "--storage.tsdb.path=\(scratch.appendingPathComponent("tsdb").path)",
            "--web.listen-address=127.0.0.1:\(port)", "--enable-feature=exemplar-storage",
        ])
        defer { server.terminate(); server.waitUntilExit() }

        // Wait for exemplars of a slow nanosleep bucket to be stored.
        var exemplars: [[String: Any]] = []
        let deadline = Date().addingTimeInterval(25)
        while Date() < deadline {
            Thread.sleep(forTimeInterval: 1)
            let now = Date().timeIntervalSince1970
            guard let answer = try? query(port, "/api/v1/query_exemplars?query=profiler_syscall_latency_seconds_bucket{syscall=\"nanosleep\"}&start=\(Int(now) - 60)&end=\(Int(now) + 1)"),
                  let data = answer["data"] as? [[String: Any]] else { continue }
            exemplars = data.flatMap { ($0["exemplars"] as? [[String: Any]]) ?? [] }
                .filter { (Double($0["value"] as? String ?? "") ?? 0) >= 0.04 }
            if !exemplars.isEmpty { break }
        }
        let exemplar = try XCTUnwrap(exemplars.last, "Prometheus stored no exemplar for the 50 ms nanosleep bucket")
        let span = try XCTUnwrap((exemplar["labels"] as? [String: String])?["span_id"])
        XCTAssertEqual(span.count, 16)

        // The scrape never failed.
        let up = try query(port, "/api/v1/query?query=min_over_time(up[1m])")
        let value = ((up["data"] as? [String: Any])?["result"] as? [[String: Any]])?.first?["value"] as? [Any]
        XCTAssertEqual(value?.last as? String, "1", "a scrape failed: \(up)")

        // The exemplar's span opens the profile of that very sleep (once its window closed).
        var profile = try agent.get("/profiles?span_id=\(span)")
        for _ in 0..<30 where profile.status == 404 {
            Thread.sleep(forTimeInterval: 0.5)
            profile = try agent.get("/profiles?span_id=\(span)")
        }
        XCTAssertEqual(profile.status, 200, String(decoding: profile.body, as: UTF8.self))
        let file = scratch.appendingPathComponent("exemplar.pb.gz")
        try profile.body.write(to: file)
        let top = try Command.run(TestEnvironment.which("go") ?? "/usr/bin/go", ["tool", "pprof", "-top", "-sample_index=offcpu", file.path])
        XCTAssertEqual(top.status, 0, top.stderr)
        XCTAssertTrue(top.output.contains("sleep_once"), top.output)
    }
}
