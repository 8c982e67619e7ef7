import Foundation
import Pprof
import TestSupport
import XCTest

/// The latency tracers on real BPF: histograms, exemplars that lead to the
/// stacks of that very event, off-CPU profiles.
final class TracerTests: AgentTestCase {
    /// `name{labels} value [# {exemplar labels} value timestamp]` lines of one series family.
    struct Line { var labels: [String: String]; var value: Double; var exemplar: [String: String]; var exemplarValue: Double? }

    static func lines(_ prefix: String, in text: String) -> [Line] {
        text.split(separator: "\n").compactMap { raw -> Line? in
            guard raw.hasPrefix(prefix + "{") else { return nil }
            let parts = raw.components(separatedBy: " # ")
            func labels(_ s: Substring) -> [String: String] {
                var out: [String: String] = [:]
                for pair in s.split(separator: ",") {
                    let kv = pair.split(separator: "=", maxSplits: 1)
                    if kv.count == 2 { out[String(kv[0])] = kv[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
                }
                return out
            }
            let head = parts[0]
            guard let open = head.firstIndex(of: "{"), let close = head.lastIndex(of: "}") else { return nil }
            let value = Double(head[head.index(after: close)...].trimmingCharacters(in: .whitespaces)) ?? -1
            var exemplar: [String: String] = [:], exemplarValue: Double?
            if parts.count > 1, let eOpen = parts[1].firstIndex(of: "{"), let eClose = parts[1].firstIndex(of: "}") {
                exemplar = labels(parts[1][parts[1].index(after: eOpen)..<eClose])
                exemplarValue = Double(parts[1][parts[1].index(after: eClose)...].split(separator: " ").first ?? "")
            }
            return Line(labels: labels(head[head.index(after: open)..<close]), value: value, exemplar: exemplar, exemplarValue: exemplarValue)
        }
    }

    func testNanosleepExemplarLeadsToTheSleepingStack() throws {
        // 40 sleeps (2 s) so that a drain sees the process alive: the last sleep, read after
        // the process exited, is symbolised from the maps cached then.
        let sleeper = try startFixture("sleeper", arguments: ["1.5", "40"])
        let agent = try DaemonProcess(["--window", "1", "--pid", String(sleeper.processIdentifier)])
        let deadline = Date().addingTimeInterval(10)
        while sleeper.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        XCTAssertFalse(sleeper.isRunning, "the sleeper should have finished")
        Thread.sleep(forTimeInterval: 2.5)  // its last window closes

        let metrics = try agent.getText("/metrics", accept: "application/openmetrics-text; version=1.0.0")
        let buckets = Self.lines("profiler_syscall_latency_seconds_bucket", in: metrics).filter { $0.labels["syscall"] == "nanosleep" }
        XCTAssertEqual(buckets.count, 23, "nanosleep series missing:\n\(metrics.split(separator: "\n").filter { $0.contains("syscall_latency") }.prefix(5))")
        let below = try XCTUnwrap(buckets.first { $0.labels["le"] == "0.032768" }).value
        let all = try XCTUnwrap(buckets.first { $0.labels["le"] == "+Inf" }).value
        XCTAssertGreaterThanOrEqual(all - below, 20, "≥ 20 sleeps of 50 ms must land in buckets ≥ 0.05 s")
        for line in Self.lines("profiler_syscall_latency_seconds_bucket", in: metrics) where !line.exemplar.isEmpty {
            XCTAssertLessThanOrEqual(line.exemplar.map { $0.key.count + $0.value.count }.reduce(0, +), 128)
        }
        let slow = try XCTUnwrap(buckets.first { $0.labels["le"] == "0.065536" })
        let span = try XCTUnwrap(slow.exemplar["span_id"], "the 50 ms bucket has no exemplar: \(slow)")
        XCTAssertEqual(span.count, 16)
        XCTAssertEqual(slow.exemplarValue ?? 0, 0.05, accuracy: 0.01)

        let profile = try agent.get("/profiles?span_id=\(span)")
        XCTAssertEqual(profile.status, 200, String(decoding: profile.body, as: UTF8.self))
        let samples = PprofReader.flatten(try PprofReader.decode(profile.body))
        XCTAssertFalse(samples.isEmpty)
        XCTAssertTrue(samples.allSatisfy { $0.labels["span_id"] == span })
        XCTAssertTrue(samples.contains { Array($0.userFunctions.prefix(3)) == ["sleep_once", "sleeper_loop", "main"] },
                      "the span's stacks: \(samples.map(\.functions))")
        let file = scratch.appendingPathComponent("span.pb.gz")
        try profile.body.write(to: file)
        let top = try Command.run(TestEnvironment.which("go") ?? "/usr/bin/go", ["tool", "pprof", "-top", "-sample_index=offcpu", file.path])
        XCTAssertEqual(top.status, 0, top.stderr)
        XCTAssertTrue(top.output.contains("sleep_once"), top.output + top.stderr)
        let page = try agent.getText("/flamegraph?span_id=\(span)")
        XCTAssertTrue(page.contains("\"sleep_once\""), "the span flamegraph must carry the sleeping stack")
    }

    func testOffCPUProfileShowsTheBlockingFunction() throws {
        let reader = try startFixture("pipe_block", seconds: 60)
        let agent = try DaemonProcess(["--pid", String(reader.processIdentifier)])
        let response = try agent.get("/debug/pprof/offcpu?seconds=2&pid=\(reader.processIdentifier)")
        XCTAssertEqual(response.status, 200)
        let samples = PprofReader.flatten(try PprofReader.decode(response.body))
        let top = try XCTUnwrap(samples.max { $0.count < $1.count }, "no off-CPU samples")
        XCTAssertEqual(Array(top.userFunctions.prefix(3)), ["wait_for_pipe", "consume_forever", "main"], "top stack: \(top.functions)")
        XCTAssertFalse(top.kernelFunctions.isEmpty)
        XCTAssertFalse(top.kernelFunctions.contains { $0.hasPrefix("bpf_prog_") }, "BPF frames leaked into the stack: \(top.kernelFunctions)")
        let total = samples.reduce(0) { $0 + $1.count }
        XCTAssertGreaterThan(total, 1_000_000_000, "2 s of a thread that is almost always blocked: \(total) ns")
        let file = scratch.appendingPathComponent("offcpu.pb.gz")
        try response.body.write(to: file)
        let pprof = try Command.run(TestEnvironment.which("go") ?? "/usr/bin/go", ["tool", "pprof", "-top", file.path])
        XCTAssertEqual(pprof.status, 0, pprof.stderr)
        XCTAssertTrue(pprof.output.contains("wait_for_pipe"), pprof.output)
    }

    /// The whole-disk name of the device holding `path` ("vda" for /dev/vda1 too).
    func diskName(of path: String) throws -> String {
        var st = stat()
        XCTAssertEqual(stat(path, &st), 0)
        let major = (st.st_dev >> 8) & 0xfff | (st.st_dev >> 32) & ~0xfff, minor = st.st_dev & 0xff | (st.st_dev >> 12) & ~0xff
        var sys = URL(fileURLWithPath: "/sys/dev/block/\(major):\(minor)").resolvingSymlinksInPath()
        if FileManager.default.fileExists(atPath: sys.appendingPathComponent("partition").path) { sys.deleteLastPathComponent() }
        return sys.lastPathComponent
    }

    func testDirectWritesAreCountedForTheirDevice() throws {
        let agent = try DaemonProcess(["--tracers", "syscall,io"])
        // /tmp may be tmpfs: write under the package's build folder, on a real disk.
        let directory = TestEnvironment.packageRoot.appendingPathComponent(".build/io-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("direct.bin").path
        let device = try diskName(of: directory.path)
        func writes() throws -> Double {
            let text = try agent.getText("/metrics")
            let line = text.split(separator: "\n").first { $0.hasPrefix("profiler_block_io_latency_seconds_count{device=\"\(device)\",op=\"write\"}") }
            return Double(line?.split(separator: " ").last ?? "0") ?? 0
        }
        let before = try writes()
        let dd = try Command.run("/bin/dd", ["if=/dev/zero", "of=\(file)", "bs=4096", "count=200", "oflag=direct"])
        XCTAssertEqual(dd.status, 0, dd.stderr)
        // Completions can trail dd's exit: wait for them (up to 5 s) rather than for a fixed 0.5 s.
        var after = try writes()
        for _ in 0..<50 where after - before < 200 {
            Thread.sleep(forTimeInterval: 0.1)
            after = try writes()
        }
        XCTAssertGreaterThanOrEqual(after - before, 200, "200 direct writes to \(device) must be counted")
        let metrics = try agent.getText("/metrics", accept: "application/openmetrics-text; version=1.0.0")
        XCTAssertTrue(metrics.contains("profiler_block_io_latency_seconds_bucket{device=\"\(device)\",op=\"write\",le="))
        XCTAssertTrue(metrics.contains("profiler_block_io_bytes_total{device=\"\(device)\",op=\"write\"}"))
    }

    func testAccuracyWithEveryTracerOn() throws {
        let fixture = try startFixture("cpu_split")
        let agent = try DaemonProcess([])
        let metrics = try agent.getText("/metrics")
        XCTAssertTrue(metrics.contains("profiler_agent_tracer_attached{tracer=\"syscall\",mode=\"tp_btf\"} 1"), metrics)
        XCTAssertTrue(metrics.contains("profiler_agent_tracer_attached{tracer=\"offcpu\",mode=\"tp_btf\"} 1"), metrics)
        XCTAssertTrue(metrics.contains("profiler_agent_tracer_attached{tracer=\"io\",mode=\"tp_btf\"} 1"), metrics)
        // This kernel (6.6+) has uprobe_multi links.
        XCTAssertTrue(metrics.contains("profiler_agent_tracer_attached{tracer=\"dns\",mode=\"uprobe_multi\"} 1"), metrics)
        XCTAssertTrue(metrics.contains("profiler_agent_tracer_attached{tracer=\"tls\",mode=\"uprobe_multi\"} 1"), metrics)
        let pulled = try agent.get("/debug/pprof/profile?seconds=5&pid=\(fixture.processIdentifier)")
        assertCPUSplit(PprofReader.flatten(try PprofReader.decode(pulled.body)))
        let text = try agent.getText("/metrics")
        XCTAssertTrue(text.contains("profiler_syscall_latency_seconds_bucket{syscall="))
        let promtool = try XCTUnwrap(TestEnvironment.which("promtool"))
        let check = try Command.run(promtool, ["check", "metrics"], input: Data(text.utf8))
        XCTAssertEqual(check.status, 0, check.output + check.stderr)
    }

    func testTracersCanBeSwitchedOff() throws {
        let agent = try DaemonProcess(["--tracers", "none"])
        let metrics = try agent.getText("/metrics")
        XCTAssertFalse(metrics.contains("profiler_syscall_latency_seconds"))
        XCTAssertFalse(metrics.contains("profiler_agent_tracer_attached{"))
        XCTAssertEqual(try agent.get("/debug/pprof/offcpu?seconds=1").status, 404)
        let onlySyscalls = try DaemonProcess(["--tracers", "syscall"])
        let text = try onlySyscalls.getText("/metrics")
        XCTAssertTrue(text.contains("tracer=\"syscall\""))
        XCTAssertFalse(text.contains("tracer=\"offcpu\""))
        let bogus = try Command.run(TestEnvironment.agent, ["run", "--listen", "127.0.0.1:0", "--tracers", "syscall,bogus"])
        XCTAssertEqual(bogus.status, 1)
        XCTAssertTrue(bogus.stderr.contains("unknown tracer 'bogus'"), bogus.stderr)
    }
}
