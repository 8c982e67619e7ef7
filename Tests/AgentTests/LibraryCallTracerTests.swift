import Foundation
import Pprof
import TestSupport
import XCTest

/// The uprobe tracers (DNS, TLS) on real BPF with real event generators: a
/// delaying DNS responder and `openssl s_server` / `s_client` on loopback.
final class LibraryCallTracerTests: AgentTestCase {
    /// The value of the first metric line starting with `prefix` (0 when absent).
    func value(_ prefix: String, in metrics: String) -> Double {
        let line = metrics.split(separator: "\n").first { $0.hasPrefix(prefix) }
        return line.flatMap { Double($0.split(separator: " ")[1]) } ?? 0
    }

    /// Polls the agent's metrics until `prefix` reaches `minimum` (or 8 s pass).
    func waitForMetric(_ agent: DaemonProcess, _ prefix: String, atLeast minimum: Double) throws -> String {
        var metrics = ""
        for _ in 0..<80 {
            metrics = try agent.getText("/metrics")
            if value(prefix, in: metrics) >= minimum { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return metrics
    }

    /// A fixture run in its own mount namespace, as in a container: its own
    /// resolv.conf (the test responder) and its own copy of libc (a file the
    /// agent has never seen, so it must find it after start through /proc/PID/root).
    func testDNSLookupsAreTimedAndTheirExemplarShowsTheLookupStack() throws {
        let dns = try DNSFixture(test: self)
        let agent = try DaemonProcess(["--window", "1", "--tracers", "dns,offcpu,syscall"])
        let librariesAtStart = value("profiler_agent_uprobe_libraries{tracer=\"dns\"}", in: try agent.getText("/metrics"))
        XCTAssertGreaterThanOrEqual(librariesAtStart, 1, "the host's libc is probed at start: \(agent.stderr)")
        // 20 lookups of 80 ms after 2 s (the agent rescans every second), alive 1.5 s after.
        let slow = try dns.lookup(20, prefix: "slow-")
        XCTAssertEqual(slow.status, 0, slow.stderr)
        XCTAssertEqual(slow.output.split(separator: "\n").filter { $0.hasSuffix(" 0") }.count, 20, "every lookup resolves: \(slow.output)")
        let failing = try dns.lookup(2, prefix: "nx")
        XCTAssertTrue(failing.output.split(separator: "\n").allSatisfy { !$0.hasSuffix(" 0") }, "nx names fail: \(failing.output)")
        Thread.sleep(forTimeInterval: 2.5)  // the last windows close

        let metrics = try agent.getText("/metrics", accept: "application/openmetrics-text; version=1.0.0")
        XCTAssertGreaterThan(value("profiler_agent_uprobe_libraries{tracer=\"dns\"}", in: metrics), librariesAtStart,
                             "the container's libc (a new inode) must be found after start")
        let ok = TracerTests.lines("profiler_dns_lookup_duration_seconds_bucket", in: metrics).filter { $0.labels["result"] == "ok" }
        XCTAssertEqual(ok.count, 23, metrics.split(separator: "\n").filter { $0.contains("dns") }.joined(separator: "\n"))
        let below = try XCTUnwrap(ok.first { $0.labels["le"] == "0.065536" }).value
        let all = try XCTUnwrap(ok.first { $0.labels["le"] == "+Inf" }).value
        XCTAssertGreaterThanOrEqual(all - below, 20, "20 lookups of 80 ms land in buckets ≥ 0.08 s")
        XCTAssertGreaterThanOrEqual(value("profiler_dns_lookup_duration_seconds_count{result=\"error\"}", in: metrics), 2)
        XCTAssertFalse(metrics.contains("profiler.test"), "host names must never be metric labels")

        let bucket = try XCTUnwrap(ok.first { $0.labels["le"] == "0.131072" })
        let span = try XCTUnwrap(bucket.exemplar["span_id"], "the 80 ms bucket has no exemplar: \(bucket)")
        XCTAssertGreaterThanOrEqual(bucket.exemplarValue ?? 0, 0.08)
        let profile = try agent.get("/profiles?span_id=\(span)")
        XCTAssertEqual(profile.status, 200, String(decoding: profile.body, as: UTF8.self))
        let samples = PprofReader.flatten(try PprofReader.decode(profile.body))
        XCTAssertTrue(samples.allSatisfy { $0.labels["span_id"] == span })
        // glibc has no frame pointers: the stack below getaddrinfo comes from its call site.
        XCTAssertTrue(samples.contains { $0.userFunctions.contains("resolve_slowly") && $0.userFunctions.contains("main") },
                      "the lookup's stacks: \(samples.map(\.functions))")
        let file = scratch.appendingPathComponent("dns-span.pb.gz")
        try profile.body.write(to: file)
        let traces = try Command.run(TestEnvironment.which("go") ?? "/usr/bin/go", ["tool", "pprof", "-traces", file.path])
        XCTAssertEqual(traces.status, 0, traces.stderr)
        XCTAssertTrue(traces.output.contains("getaddrinfo") && traces.output.contains("resolve_slowly"), traces.output)

        try checkSpanPage(agent, span: span)

        let events = try agent.get("/events?type=dns&limit=100")
        XCTAssertEqual(events.status, 200)
        let list = try XCTUnwrap(try JSONSerialization.jsonObject(with: events.body) as? [[String: Any]])
        let slowHosts = list.filter { ($0["host"] as? String)?.hasPrefix("slow-") == true }
        XCTAssertEqual(Set(slowHosts.compactMap { $0["host"] as? String }).count, 20, "\(list)")
        XCTAssertTrue(slowHosts.allSatisfy { ($0["duration_seconds"] as? Double ?? 0) >= 0.08 && $0["result"] as? String == "ok" })
        XCTAssertTrue(slowHosts.contains { ($0["callers"] as? [String])?.first == "resolve_slowly" }, "\(slowHosts.prefix(2))")
        let failed = list.filter { ($0["host"] as? String)?.hasPrefix("nx") == true }
        XCTAssertEqual(failed.count, 2)
        XCTAssertTrue(failed.allSatisfy { $0["result"] as? String == "error" })
        XCTAssertEqual(try agent.get("/events?type=tls").status, 400)
        XCTAssertEqual(try agent.get("/events?type=dns&limit=0").status, 400)
    }

    /// The span flamegraph of a DNS exemplar, as a user opens it from Grafana: it says what the event
    /// was and draws its stacks in Chromium. With UPDATE_DOCS=1 its screenshot becomes docs/span-flamegraph.png.
    func checkSpanPage(_ agent: DaemonProcess, span: String) throws {
        let page = try agent.get("/flamegraph?span_id=\(span)")
        XCTAssertEqual(page.status, 200, String(decoding: page.body, as: UTF8.self))
        let file = scratch.appendingPathComponent("span-flamegraph.html")
        try page.body.write(to: file)
        let dom = try HeadlessChromium.renderedDOM(file, in: scratch)
        let body = try HeadlessChromium.bodyAttributes(dom)
        XCTAssertNil(body["data-error"], "the page threw: \(body["data-error"] ?? "")")
        XCTAssertGreaterThan(Int(body["data-rendered"] ?? "") ?? 0, 3, "nothing drawn")
        for row in ["<dt>tracer</dt><dd>dns</dd>", "<dt>event</dt><dd>DNS lookup of slow-", "<dt>DNS host</dt><dd>slow-", "<dt>span_id</dt><dd>\(span)</dd>"] {
            XCTAssertTrue(dom.contains(row), "the page says \(row): \(dom.prefix(3000))")
        }
        XCTAssertTrue(dom.contains("resolve_slowly"), "the lookup's caller is drawn")
        XCTAssertTrue(dom.contains("view=offcpu") || dom.contains("view=events"), "links to the span's other profile types")
        let census = HeadlessChromium.colourCensus(try HeadlessChromium.screenshot(file, in: scratch))
        XCTAssertGreaterThan(census.warmShare, 0.01, "the screenshot looks blank: \(census)")
        if ProcessInfo.processInfo.environment["UPDATE_DOCS"] == "1" {
            let target = TestEnvironment.packageRoot.appendingPathComponent("docs/span-flamegraph.png")
            try? FileManager.default.removeItem(at: target)
            try FileManager.default.copyItem(at: scratch.appendingPathComponent("span-flamegraph.png"), to: target)
        }
    }

    func testTLSOperationsAndBytesMatchWhatWasSent() throws {
        try assertTLSCounted(environment: nil, mode: "uprobe_multi")  // this kernel is 6.6+
    }

    /// Kernels before 6.6 have no uprobe_multi links: the per-function perf-event uprobes count the same.
    func testTLSWithPerEventUprobes() throws {
        try assertTLSCounted(environment: ["PROFILER_AGENT_UPROBES": "per-event"], mode: "uprobe")
    }

    /// `mode`: what profiler_agent_tracer_attached must say the uprobes are.
    func assertTLSCounted(environment: [String: String]?, mode: String) throws {
        let agent = try DaemonProcess(["--window", "1", "--tracers", "tls"], environment: environment)
        let attached = try agent.getText("/metrics")
        XCTAssertTrue(attached.contains("profiler_agent_tracer_attached{tracer=\"tls\",mode=\"\(mode)\"} 1"), attached)
        let key = scratch.appendingPathComponent("key.pem").path, cert = scratch.appendingPathComponent("cert.pem").path
        let req = try Command.run("/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                                                       "-keyout", key, "-out", cert, "-days", "1"])
        XCTAssertEqual(req.status, 0, req.stderr)
        let port = 20_000 + Int(getpid() % 20_000)
        // s_server ends its session when its stdin closes: keep a pipe open.
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        server.arguments = ["s_server", "-accept", "127.0.0.1:\(port)", "-cert", cert, "-key", key, "-quiet", "-naccept", "1"]
        let stdin = Pipe()
        server.standardInput = stdin
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        addTeardownBlock { server.terminate(); server.waitUntilExit() }
        // libssl may be mapped by no other process: wait until the agent found it in the server.
        var metrics = try waitForMetric(agent, "profiler_agent_uprobe_libraries{tracer=\"tls\"}", atLeast: 1)
        XCTAssertGreaterThanOrEqual(value("profiler_agent_uprobe_libraries{tracer=\"tls\"}", in: metrics), 1)
        let readBefore = value("profiler_tls_bytes_total{op=\"read\"}", in: metrics)
        let writeBefore = value("profiler_tls_bytes_total{op=\"write\"}", in: metrics)
        let handshakesBefore = value("profiler_tls_operation_duration_seconds_count{op=\"handshake\"}", in: metrics)

        var generator = SplitMix64(seed: 7)
        let payload = Data((0..<100_000).map { _ in UInt8(0x21 + generator.next() % 90) } + [0x0a])
        // Python's ssl module (libssl's SSL_write_ex) sends it; s_server reads it with SSL_read.
        let client = try Command.run("/usr/bin/python3", ["-c", Self.tlsClient, String(port)], input: payload)
        XCTAssertEqual(client.status, 0, client.stderr)
        metrics = try waitForMetric(agent, "profiler_tls_bytes_total{op=\"read\"}", atLeast: readBefore + Double(payload.count))
        let read = value("profiler_tls_bytes_total{op=\"read\"}", in: metrics) - readBefore
        let written = value("profiler_tls_bytes_total{op=\"write\"}", in: metrics) - writeBefore
        // Plaintext counts: the client wrote the payload, the server read it (a little slack for other TLS users).
        XCTAssertGreaterThanOrEqual(written, Double(payload.count))
        XCTAssertLessThanOrEqual(written, Double(payload.count + 4096))
        XCTAssertGreaterThanOrEqual(read, Double(payload.count))
        XCTAssertLessThanOrEqual(read, Double(payload.count + 4096))
        XCTAssertGreaterThanOrEqual(value("profiler_tls_operation_duration_seconds_count{op=\"handshake\"}", in: metrics) - handshakesBefore, 1)
        XCTAssertGreaterThanOrEqual(value("profiler_tls_operation_duration_seconds_count{op=\"write\"}", in: metrics), 1)
        // An exemplar is exported once the agent holds its span's stacks: by the next drain (1 s).
        var exposition = ""
        for _ in 0..<50 {
            exposition = try agent.getText("/metrics", accept: "application/openmetrics-text; version=1.0.0")
            if TracerTests.lines("profiler_tls_operation_duration_seconds_bucket", in: exposition).contains(where: { !$0.exemplar.isEmpty }) { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        XCTAssertTrue(TracerTests.lines("profiler_tls_operation_duration_seconds_bucket", in: exposition).contains { !$0.exemplar.isEmpty },
                      exposition)
        let promtool = try XCTUnwrap(TestEnvironment.which("promtool"))
        let check = try Command.run(promtool, ["check", "metrics"], input: Data(try agent.getText("/metrics").utf8))
        XCTAssertEqual(check.status, 0, check.output + check.stderr)
    }

    /// Sends standard input over TLS to 127.0.0.1:PORT, then closes the session cleanly.
    static let tlsClient = """
        import socket, ssl, sys
        data = sys.stdin.buffer.read()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        import time
        for attempt in range(50):  # s_server listens a moment after it mapped libssl
            try:
                raw = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
                break
            except ConnectionRefusedError:
                time.sleep(0.1)
        with raw:
            with context.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(data)
                tls.unwrap()
        """
}
