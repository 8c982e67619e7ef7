import Foundation
import TestSupport
import XCTest

/// Debian's Prometheus (2.42, with exemplar storage) scraping an agent, for
/// the tests that check what a real consumer stores of its metrics.
extension AgentTestCase {
    func freePort() throws -> Int {
        let result = try Command.run("/usr/bin/python3", ["-c", "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])"])
        return try XCTUnwrap(Int(result.output.trimmingCharacters(in: .whitespacesAndNewlines)))
    }

    func query(_ port: Int, _ path: String) throws -> [String: Any] {
        let result = try Command.run("/usr/bin/curl", ["-s", "-g", "--max-time", "10", "http://127.0.0.1:\(port)\(path)"])
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any], result.output)
    }

    /// Starts Prometheus with exemplar storage, scraping the agent every second; returns its port.
    func startPrometheus(scraping agentPort: Int) throws -> Int {
        let prometheus = try XCTUnwrap(TestEnvironment.which("prometheus"), "apt-get install prometheus")
        let port = try freePort()
        let config = scratch.appendingPathComponent("prometheus.yml")
        try """
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
            scrape_configs:
              - job_name: profiler-agent
                static_configs:
                  - targets: ["127.0.0.1:\(agentPort)"]
            """.write(to: config, atomically: true, encoding: .utf8)
        let server = try Command.start(prometheus, [
            "--config.file=\(config.path)", "--storage.tsdb.path=\(scratch.appendingPathComponent("tsdb").path)",
            "--web.listen-address=127.0.0.1:\(port)", "--enable-feature=exemplar-storage",
        ])
        addTeardownBlock { server.terminate(); server.waitUntilExit() }
        return port
    }

    /// Exemplars Prometheus stored for `selector` in the last minute whose value is at least `minimum`,
    /// waiting up to `seconds` for one.
    func storedExemplars(_ port: Int, _ selector: String, minimum: Double, seconds: Double = 25) -> [[String: Any]] {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            Thread.sleep(forTimeInterval: 1)
            let now = Date().timeIntervalSince1970
            guard let answer = try? query(port, "/api/v1/query_exemplars?query=\(selector)&start=\(Int(now) - 60)&end=\(Int(now) + 1)"),
                  let data = answer["data"] as? [[String: Any]] else { continue }
            let exemplars = data.flatMap { ($0["exemplars"] as? [[String: Any]]) ?? [] }
                .filter { (Double($0["value"] as? String ?? "") ?? 0) >= minimum }
            if !exemplars.isEmpty { return exemplars }
        }
        return []
    }

    /// Asserts that no scrape failed in the last `range` (a PromQL duration).
    func assertScrapesNeverFailed(_ port: Int, range: String = "1m") throws {
        let up = try query(port, "/api/v1/query?query=min_over_time(up[\(range)])")
        let value = ((up["data"] as? [String: Any])?["result"] as? [[String: Any]])?.first?["value"] as? [Any]
        XCTAssertEqual(value?.last as? String, "1", "a scrape failed: \(up)")
    }
}
