import Foundation
import Pprof
import TestSupport
import XCTest

/// Push to Pyroscope's /ingest, checked against a local stand-in receiver
/// (Fixtures/pyroscope_receiver.py): no Pyroscope server can be installed here,
/// so this tests the wire protocol our side speaks.
final class PushTests: AgentTestCase {
    struct Receiver {
        let process: Process
        let port: Int
        let directory: URL

        /// The requests received so far: (path with query, headers, body).
        func requests() -> [(path: String, headers: [String: String], body: Data)] {
            var out: [(String, [String: String], Data)] = []
            for n in 1... {
                let meta = directory.appendingPathComponent("\(n).json")
                guard let data = try? Data(contentsOf: meta),
                      let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                      let body = try? Data(contentsOf: directory.appendingPathComponent("\(n).body")) else { break }
                out.append((json["path"] as? String ?? "", json["headers"] as? [String: String] ?? [:], body))
            }
            return out
        }
    }

    func startReceiver(_ options: [String] = []) throws -> Receiver {
        let directory = scratch.appendingPathComponent("received-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [TestEnvironment.packageRoot.appendingPathComponent("Fixtures/pyroscope_receiver.py").path, directory.path] + options
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        addTeardownBlock { if process.isRunning { process.terminate(); process.waitUntilExit() } }
        var line = Data()
        while !line.contains(0x0a) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        let port = try XCTUnwrap(Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)))
        return Receiver(process: process, port: port, directory: directory)
    }

    /// The `profile` part of a multipart/form-data body.
    func profilePart(_ body: Data, contentType: String) throws -> Data {
        let boundary = try XCTUnwrap(contentType.components(separatedBy: "boundary=").last)
        let partStart = try XCTUnwrap(body.range(of: Data("name=\"profile\"".utf8)))
        let contentStart = try XCTUnwrap(body.range(of: Data("\r\n\r\n".utf8), in: partStart.upperBound..<body.endIndex))
        let contentEnd = try XCTUnwrap(body.range(of: Data("\r\n--\(boundary)--".utf8), in: contentStart.upperBound..<body.endIndex))
        return body[contentStart.upperBound..<contentEnd.lowerBound]
    }

    func waitFor(_ seconds: Double, _ condition: () -> Bool) {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end && !condition() { Thread.sleep(forTimeInterval: 0.1) }
    }

    func testWindowsArePushedWithLabels() throws {
        _ = try startFixture("cpu_split")
        let receiver = try startReceiver()
        let agent = try DaemonProcess(["--window", "1", "--pyroscope-url", "http://127.0.0.1:\(receiver.port)", "--node-name", "test-node"])
        waitFor(8) { receiver.requests().count >= 2 }
        let requests = receiver.requests()
        XCTAssertGreaterThanOrEqual(requests.count, 2, agent.stderr)
        let request = try XCTUnwrap(requests.last)

        let url = try XCTUnwrap(URLComponents(string: "http://x" + request.path))
        XCTAssertEqual(url.path, "/ingest")
        let query = Dictionary(uniqueKeysWithValues: (url.queryItems ?? []).map { ($0.name, $0.value ?? "") })
        XCTAssertEqual(query["name"], "profiler-agent.cpu{node=test-node}")
        XCTAssertEqual(query["format"], "pprof")
        XCTAssertEqual(query["sampleRate"], "97")
        let from = try XCTUnwrap(Int(query["from"] ?? "")), until = try XCTUnwrap(Int(query["until"] ?? ""))
        XCTAssertLessThanOrEqual(from, until)
        XCTAssertLessThan(abs(Double(until) - Date().timeIntervalSince1970), 30)

        let contentType = try XCTUnwrap(request.headers["Content-Type"])
        XCTAssertTrue(contentType.hasPrefix("multipart/form-data; boundary="), contentType)
        let samples = PprofReader.flatten(try PprofReader.decode(try profilePart(request.body, contentType: contentType)))
        XCTAssertTrue(samples.contains { $0.functions.first == "burn_three_quarters" && $0.labels["comm"] == "cpu_split" })
        XCTAssertTrue(samples.allSatisfy { $0.labels["node"] == "test-node" })
        XCTAssertTrue(samples.allSatisfy { $0.numericLabels.isEmpty }, "pid/tid would make a series per thread")

        let metrics = try agent.getText("/metrics")
        XCTAssertGreaterThanOrEqual(try metricValue("profiler_agent_pushes_total{result=\"ok\"}", metrics), 2)
    }

    func testSIGTERMDeliversTheFinalWindow() throws {
        _ = try startFixture("cpu_split")
        let receiver = try startReceiver()
        let agent = try DaemonProcess(["--window", "600", "--pyroscope-url", "http://127.0.0.1:\(receiver.port)"])
        Thread.sleep(forTimeInterval: 2)
        XCTAssertEqual(receiver.requests().count, 0, "no window should have closed yet")
        let exit = agent.terminate()
        XCTAssertEqual(exit.status, 0, agent.stderr)
        XCTAssertLessThan(exit.seconds, 2)
        let requests = receiver.requests()
        XCTAssertEqual(requests.count, 1, "the final window must be pushed before exit")
        let request = try XCTUnwrap(requests.first)
        let samples = PprofReader.flatten(try PprofReader.decode(try profilePart(request.body, contentType: request.headers["Content-Type"] ?? "")))
        XCTAssertTrue(samples.contains { $0.functions.contains("burn_three_quarters") })
    }

    func testReceiverDownCountsFailuresAndKeepsSampling() throws {
        _ = try startFixture("cpu_split")
        let dead = try startReceiver()
        dead.process.terminate()
        dead.process.waitUntilExit()
        let agent = try DaemonProcess(["--window", "1", "--push-queue", "1", "--pyroscope-url", "http://127.0.0.1:\(dead.port)"])
        Thread.sleep(forTimeInterval: 4)
        let first = try agent.getText("/metrics")
        Thread.sleep(forTimeInterval: 1.5)
        let second = try agent.getText("/metrics")
        XCTAssertGreaterThan(try metricValue("profiler_agent_pushes_total{result=\"failed\"}", second), 0)
        XCTAssertGreaterThan(try metricValue("profiler_agent_pushes_total{result=\"dropped\"}", second), 0)
        XCTAssertEqual(try metricValue("profiler_agent_pushes_total{result=\"ok\"}", second), 0)
        XCTAssertGreaterThan(try metricValue("profiler_agent_samples_total", second), try metricValue("profiler_agent_samples_total", first),
                             "sampling must not wait on the network")
        XCTAssertGreaterThan(try metricValue("profiler_agent_windows_closed_total", second), try metricValue("profiler_agent_windows_closed_total", first))
        XCTAssertEqual(try agent.get("/readyz").status, 200)
        let exit = agent.terminate()
        XCTAssertEqual(exit.status, 0)
        XCTAssertLessThan(exit.seconds, 2, "a dead receiver must not hold up shutdown")
    }

    /// A receiver that takes each push and does not answer for a minute: pushes
    /// time out, the queue stays bounded (oldest dropped and counted), sampling goes on.
    func testSlowReceiverKeepsTheQueueBoundedAndSamplingOn() throws {
        _ = try startFixture("cpu_split")
        let slow = try startReceiver(["--delay", "60"])
        let agent = try DaemonProcess(["--window", "1", "--push-queue", "2", "--pyroscope-url", "http://127.0.0.1:\(slow.port)"])
        Thread.sleep(forTimeInterval: 3)
        let first = try agent.getText("/metrics")
        Thread.sleep(forTimeInterval: 5)
        let second = try agent.getText("/metrics")
        XCTAssertEqual(try metricValue("profiler_agent_pushes_total{result=\"ok\"}", second), 0)
        XCTAssertGreaterThan(try metricValue("profiler_agent_pushes_total{result=\"failed\"}", second), 0, "timed-out pushes are failures")
        XCTAssertGreaterThan(try metricValue("profiler_agent_pushes_total{result=\"dropped\"}", second), 0, "a full queue drops the oldest")
        XCTAssertLessThanOrEqual(try metricValue("profiler_agent_push_queue_windows", second), 2)
        XCTAssertGreaterThanOrEqual(try metricValue("profiler_agent_windows_closed_total", second) - metricValue("profiler_agent_windows_closed_total", first), 4,
                                    "windows keep closing every second while a push hangs")
        let profile = try agent.get("/debug/pprof/profile?seconds=1")
        XCTAssertEqual(profile.status, 200)
        XCTAssertFalse(try PprofReader.flatten(PprofReader.decode(profile.body)).isEmpty, "sampling is unaffected")
        let exit = agent.terminate()
        XCTAssertEqual(exit.status, 0)
        XCTAssertLessThan(exit.seconds, 2.5, "a hung receiver must not hold up shutdown")
    }

    /// The value of `series` in an exposition; a missing series (or an unparsable value) is a failure, not a number.
    func metricValue(_ series: String, _ text: String, file: StaticString = #filePath, line: UInt = #line) throws -> Double {
        let value = text.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
        return try XCTUnwrap(value, "no series \(series) in:\n\(text)", file: file, line: line)
    }
}
