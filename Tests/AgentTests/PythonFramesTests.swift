import Foundation
import Pprof
import TestSupport
import XCTest

/// CPython frames walked in BPF and named by the agent, judged against py-spy
/// recording the same process at the same time (`Fixtures/python_chain.py`),
/// under Debian's python3.11 and pyenv's 3.8, 3.9, 3.10, 3.12 and 3.13.
final class PythonFramesTests: AgentTestCase {
    static let expected: Set<[String]> = [
        ["<module>", "main", "handle_request", "parse", "hot_loop"],
        ["<module>", "main", "handle_request", "parse", "cold_loop"],
    ]
    var script: String { TestEnvironment.packageRoot.appendingPathComponent("Fixtures/python_chain.py").path }
    var pySpy: String { TestEnvironment.packageRoot.appendingPathComponent(".build/venv/bin/py-spy").path }

    /// The Python frames of a sample, outermost first (frames that have a source file).
    static func pythonChain(_ sample: PprofReader.FlatSample) -> [String] {
        zip(sample.functions, sample.sourceFiles).filter { !$0.1.isEmpty }.map(\.0).reversed()
    }

    /// py-spy's raw output as (chain outermost first, count), file names dropped.
    static func pySpyChains(_ text: String) -> [([String], Int64)] {
        text.split(separator: "\n").compactMap { line in
            guard let space = line.lastIndex(of: " "), let count = Int64(line[line.index(after: space)...]) else { return nil }
            let frames = line[..<space].split(separator: ";").map { frame in
                String(frame.split(separator: " (").first ?? frame)
            }
            return (frames, count)
        }
    }

    struct ChainReport {
        var total: Int64 = 0, withChain: Int64 = 0, exact: Int64 = 0, corrupt: Int64 = 0, hot: Int64 = 0, cold: Int64 = 0
        var hotShare: Double { Double(hot) / Double(max(hot + cold, 1)) * 100 }
        var text = ""
    }

    static func report(_ chains: [([String], Int64)]) -> ChainReport {
        var report = ChainReport()
        var tally: [[String]: Int64] = [:]
        for (chain, count) in chains {
            report.total += count
            tally[chain, default: 0] += count
            guard !chain.isEmpty else { continue }
            report.withChain += count
            if expected.contains(chain) { report.exact += count }
            if !expected.contains(where: { $0.starts(with: chain) }) { report.corrupt += count }
            if chain.last == "hot_loop" { report.hot += count }
            if chain.last == "cold_loop" { report.cold += count }
        }
        report.text = tally.sorted { $0.value > $1.value }.prefix(8).map { "  \($0.value)  \($0.key.joined(separator: " → "))" }.joined(separator: "\n")
        return report
    }

    /// Records the single-chain fixture under `python` with the agent (97 Hz) and py-spy
    /// (400 Hz) at once, for 15 s. The hot/cold split of each is a binomial estimate: with
    /// 6 s at 97 Hz each (580 samples, σ of the difference 2.5 points) a 5-point tolerance
    /// failed about one run in twenty with both tools right; with ≈ 1,450 and ≈ 6,000
    /// samples σ is 1.3 points, and 5 points is 3.9 σ.
    func assertChains(minor: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let python = try pythonInterpreter(minor)
        let fixture = try Command.start(python, [script, "single", "30"])
        addTeardownBlock { fixture.terminate(); fixture.waitUntilExit() }
        Thread.sleep(forTimeInterval: 1)  // past start-up: the interpreter is initialised
        let spyOutput = scratch.appendingPathComponent("py-spy.txt").path
        let spy = LockedBox<CommandResult?>(nil)
        let spyDone = DispatchSemaphore(value: 0)
        let pid = String(fixture.processIdentifier), pySpy = self.pySpy
        DispatchQueue.global().async {
            spy.set(try? Command.run(pySpy, ["record", "--pid", pid, "--rate", "400", "--duration", "15", "--nonblocking",
                                             "--format", "raw", "--nolineno", "-o", spyOutput]))
            spyDone.signal()
        }
        let samples = try record(["--duration", "15", "--pid", pid])
        spyDone.wait()
        XCTAssertEqual(spy.get()?.status, 0, "py-spy failed: \(spy.get()?.stderr ?? "did not run")", file: file, line: line)
        let ours = Self.report(samples.map { (Self.pythonChain($0), $0.count) })
        let theirs = Self.report(Self.pySpyChains((try? String(contentsOfFile: spyOutput, encoding: .utf8)) ?? ""))
        let summary = """
            CPython 3.\(minor) (\(python)): agent \(ours.total) samples, \(ours.withChain) with a Python chain, \(ours.exact) exact, \
            \(ours.corrupt) not a prefix of an expected chain, hot \(String(format: "%.1f", ours.hotShare)) %; \
            py-spy \(theirs.total) samples, hot \(String(format: "%.1f", theirs.hotShare)) %
            agent:
            \(ours.text)
            py-spy:
            \(theirs.text)
            """
        print(summary)
        XCTAssertGreaterThan(ours.total, 800, summary, file: file, line: line)  // of about 1,455 (15 s at 97 Hz)
        XCTAssertGreaterThan(theirs.total, 3000, summary, file: file, line: line)  // of about 6,000
        XCTAssertGreaterThanOrEqual(Double(ours.withChain) / Double(ours.total), 0.99, summary, file: file, line: line)
        XCTAssertGreaterThanOrEqual(Double(ours.exact) / Double(ours.total), 0.95, summary, file: file, line: line)
        XCTAssertLessThanOrEqual(Double(ours.corrupt) / Double(ours.total), 0.005, summary, file: file, line: line)
        XCTAssertEqual(ours.hotShare, theirs.hotShare, accuracy: 5, summary, file: file, line: line)
        // Python frames sit where the interpreter loop ran: under the native frames that started it.
        let merged = samples.filter { sample in
            let chain = Self.pythonChain(sample)
            guard let outer = sample.functions.lastIndex(of: "<module>") else { return chain.isEmpty }
            return sample.functions[(outer + 1)...].contains { $0 == "Py_RunMain" || $0.hasPrefix("Py_BytesMain") || $0 == "main" }
                && !sample.functions.contains { $0.hasPrefix("_PyEval_EvalFrameDefault") }
        }.reduce(0) { $0 + $1.count }
        XCTAssertGreaterThanOrEqual(Double(merged) / Double(ours.total), 0.95,
                                    "Python frames not in place of _PyEval_EvalFrameDefault under Py_RunMain:\n\(summary)", file: file, line: line)
    }

    func testPyenvPython38ChainsAgreeWithPySpy() throws { try assertChains(minor: 8) }
    func testPyenvPython39ChainsAgreeWithPySpy() throws { try assertChains(minor: 9) }
    func testPyenvPython310ChainsAgreeWithPySpy() throws { try assertChains(minor: 10) }
    func testDebianPython311ChainsAgreeWithPySpy() throws { try assertChains(minor: 11) }
    func testPyenvPython312ChainsAgreeWithPySpy() throws { try assertChains(minor: 12) }
    func testPyenvPython313ChainsAgreeWithPySpy() throws { try assertChains(minor: 13) }

    /// Under `-X perf` (3.12+) every activation is entered through a JIT trampoline without
    /// frame pointer or CFI: the walk steps over it by its known shape, so stacks still reach
    /// `_start`, the Python chain is the same, and no trampoline frame is left in it.
    func testPyenvPython312UnderXPerfStillUnwindsToStart() throws {
        let python = try pythonInterpreter(12)
        let fixture = try Command.start(python, ["-X", "perf", script, "single", "30"])
        addTeardownBlock {
            fixture.terminate()
            fixture.waitUntilExit()
            try? FileManager.default.removeItem(atPath: "/tmp/perf-\(fixture.processIdentifier).map")
        }
        Thread.sleep(forTimeInterval: 1)
        let samples = try record(["--duration", "4", "--pid", String(fixture.processIdentifier)])
        let ours = Self.report(samples.map { (Self.pythonChain($0), $0.count) })
        let total = samples.reduce(0) { $0 + $1.count }
        let rooted = samples.filter { $0.functions.last == "_start" && $0.functions.contains("Py_RunMain") }.reduce(0) { $0 + $1.count }
        let trampolines = samples.filter { $0.functions.contains { $0.hasPrefix("py::") } }.reduce(0) { $0 + $1.count }
        let summary = "-X perf: \(total) samples, \(rooted) reach _start through Py_RunMain, \(ours.exact) exact chains, "
            + "\(trampolines) with a trampoline frame\n\(ours.text)"
        print(summary)
        XCTAssertGreaterThan(total, 250, summary)
        XCTAssertGreaterThanOrEqual(Double(rooted) / Double(total), 0.95, summary)
        XCTAssertGreaterThanOrEqual(Double(ours.exact) / Double(total), 0.95, summary)
        XCTAssertEqual(trampolines, 0, summary)
    }

    /// Four threads in four chains: each thread's samples carry its own (so no sample
    /// took another thread's state), under 3.10, 3.11 and 3.13 (three thread-state layouts;
    /// 3.10's names its thread by pthread_t).
    func assertThreads(minor: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let python = try pythonInterpreter(minor)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script, "threads", "30"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        addTeardownBlock { process.terminate(); process.waitUntilExit() }
        // "thread_a=TID thread_b=TID …"
        var printed = Data()
        while !printed.contains(UInt8(ascii: "\n")) {
            let chunk = out.fileHandleForReading.availableData
            guard !chunk.isEmpty else { break }
            printed.append(chunk)
        }
        var threadOf: [Int64: String] = [:]
        for pair in String(decoding: printed, as: UTF8.self).split(whereSeparator: \.isWhitespace) {
            let parts = pair.split(separator: "=")
            if parts.count == 2, let tid = Int64(parts[1]) { threadOf[tid] = String(parts[0]) }
        }
        XCTAssertEqual(threadOf.count, 4, "fixture printed \(String(decoding: printed, as: UTF8.self))", file: file, line: line)
        Thread.sleep(forTimeInterval: 0.5)
        let samples = try record(["--duration", "5", "--pid", String(process.processIdentifier)])
        var own: [String: Int64] = [:], all: [String: Int64] = [:], other: [String: [String: Int64]] = [:]
        for sample in samples {
            guard let tid = sample.numericLabels["tid"], let name = threadOf[tid] else { continue }
            let letter = name.dropFirst("thread_".count)
            let chain = Self.pythonChain(sample)
            all[name, default: 0] += sample.count
            // threading's own frames, then the thread's chain, exactly.
            // Before 3.11 there is no co_qualname: methods are named by co_name, as py-spy names them.
            let threading = minor >= 11 ? ["Thread._bootstrap", "Thread._bootstrap_inner", "Thread.run"] : ["_bootstrap", "_bootstrap_inner", "run"]
            if chain == threading + ["thread_\(letter)", "spin_\(letter)", "spin"] {
                own[name, default: 0] += sample.count
            } else {
                other[name, default: [:]][chain.joined(separator: " → "), default: 0] += sample.count
            }
        }
        for name in threadOf.values.sorted() {
            let total = all[name] ?? 0
            XCTAssertGreaterThan(total, 40, "\(name): \(total) samples", file: file, line: line)
            XCTAssertGreaterThanOrEqual(Double(own[name] ?? 0) / Double(max(total, 1)), 0.95,
                                        "\(name): \(own[name] ?? 0) of \(total) samples in its own chain; others: \(other[name] ?? [:])",
                                        file: file, line: line)
        }
    }

    /// The main thread behind 200 idle threads in the interpreter's list (new thread states go
    /// first): beyond the 64 thread states one sample searches, its search goes on over its next
    /// samples, and once found it stays found.
    func testAThreadBehindMoreThan64OthersIsFound() throws {
        let fixture = try Command.start("/usr/bin/python3.11", [script, "crowd", "30"])
        addTeardownBlock { fixture.terminate(); fixture.waitUntilExit() }
        Thread.sleep(forTimeInterval: 1)
        let pid = fixture.processIdentifier
        let samples = try record(["--duration", "4", "--pid", String(pid)]).filter { $0.numericLabels["tid"] == Int64(pid) }
        let total = samples.reduce(0) { $0 + $1.count }
        let chained = samples.filter { Self.expected.contains(Self.pythonChain($0).filter { $0 != "crowd" }) }.reduce(0) { $0 + $1.count }
        XCTAssertGreaterThan(total, 250, "main-thread samples")
        XCTAssertGreaterThanOrEqual(Double(chained) / Double(max(total, 1)), 0.95,
                                    "\(chained) of \(total) main-thread samples carry the chain: \(samples.prefix(3).map(Self.pythonChain))")
    }

    func testPyenvPython310ThreadsEachCarryTheirOwnChain() throws { try assertThreads(minor: 10) }
    func testDebianPython311ThreadsEachCarryTheirOwnChain() throws { try assertThreads(minor: 11) }
    func testPyenvPython313ThreadsEachCarryTheirOwnChain() throws { try assertThreads(minor: 13) }

    /// `go tool pprof -traces` shows the Python frames with their file and line.
    func testGoToolPprofShowsPythonFilesAndLines() throws {
        let fixture = try Command.start("/usr/bin/python3.11", [script, "single", "30"])
        addTeardownBlock { fixture.terminate(); fixture.waitUntilExit() }
        Thread.sleep(forTimeInterval: 1)
        let output = scratch.appendingPathComponent("python.pb.gz").path
        XCTAssertEqual(try agent(["record", "--duration", "3", "--pid", String(fixture.processIdentifier), "--output", output]).status, 0,
                       lastAgentStderr)
        let go = TestEnvironment.which("go") ?? "/usr/bin/go"
        let traces = try Command.run(go, ["tool", "pprof", "-traces", "-lines", output])
        XCTAssertEqual(traces.status, 0, traces.stderr)
        let text = String(decoding: traces.stdout, as: UTF8.self)
        // The loop body of hot_loop is lines 21-22 of the fixture; parse calls it at line 35.
        let source = try String(contentsOfFile: script, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        func lineNumber(of text: String) -> Int { (source.firstIndex { $0.contains(text) } ?? -1) + 1 }
        let body = lineNumber(of: "        total += i * i"), call = lineNumber(of: "    return hot_loop(WORK)")
        XCTAssertTrue(text.contains("hot_loop \(script):\(body)") || text.contains("hot_loop \(script):\(body - 1)"),
                      "no hot_loop at \(script):\(body) in:\n\(text.prefix(3000))")
        XCTAssertTrue(text.contains("parse \(script):\(call)"), "no parse at \(script):\(call) in:\n\(text.prefix(3000))")
    }
}

extension AgentTestCase {
    /// The interpreter of CPython 3.`minor`: Debian's for 3.11, pyenv's otherwise (the test
    /// machine has 3.6-3.13 under `pyenv root`; a missing one fails the test, it does not skip it).
    func pythonInterpreter(_ minor: Int) throws -> String {
        if minor == 11 { return "/usr/bin/python3.11" }
        let root = (try? Command.run("/bin/sh", ["-c", "pyenv root 2>/dev/null || echo $HOME/.pyenv"]))
            .map { String(decoding: $0.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) } ?? "/root/.pyenv"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "\(root)/versions")) ?? []
        let version = try XCTUnwrap(versions.filter { $0.hasPrefix("3.\(minor).") }.sorted().last,
                                    "no pyenv CPython 3.\(minor) under \(root)/versions (the test machine has 3.6-3.13)")
        return "\(root)/versions/\(version)/bin/python3.\(minor)"
    }
}

/// The daemon: Python frames on CPU and off CPU (the same BPF walk behind the
/// off-CPU switch-out), in the flamegraph page as Python, and counted in /metrics;
/// and the processes it must not name (fail closed).
final class PythonFramesDaemonTests: AgentTestCase {
    var script: String { TestEnvironment.packageRoot.appendingPathComponent("Fixtures/python_chain.py").path }

    func decode(_ data: Data) throws -> [PprofReader.FlatSample] { PprofReader.flatten(try PprofReader.decode(data)) }

    func testOnCPUAndOffCPUStacksCarryPythonFramesAndTheMetricsCountThem() throws {
        let fixture = try Command.start("/usr/bin/python3.11", [script, "mixed", "60"])
        addTeardownBlock { fixture.terminate(); fixture.waitUntilExit() }
        let pid = fixture.processIdentifier
        let agent = try DaemonProcess(["--window", "2", "--pid", String(pid), "--tracers", "offcpu"])
        Thread.sleep(forTimeInterval: 1)
        let cpu = try decode(try agent.get("/debug/pprof/profile?seconds=2&pid=\(pid)").body)
        let cpuTotal = cpu.reduce(0) { $0 + $1.count }
        let cpuChain = cpu.filter { PythonFramesTests.pythonChain($0).starts(with: ["<module>", "mixed", "handle_request", "parse"]) }
            .reduce(0) { $0 + $1.count }
        XCTAssertGreaterThan(cpuTotal, 50)
        XCTAssertGreaterThanOrEqual(Double(cpuChain) / Double(max(cpuTotal, 1)), 0.9, "CPU samples with <module> → mixed → handle_request → parse")

        let offCPU = try decode(try agent.get("/debug/pprof/offcpu?seconds=2&pid=\(pid)").body)
        let blocked = offCPU.reduce(0) { $0 + $1.count }
        let napping = offCPU.filter { PythonFramesTests.pythonChain($0) == ["<module>", "mixed", "idle", "nap"] }.reduce(0) { $0 + $1.count }
        XCTAssertGreaterThan(blocked, 0)
        XCTAssertGreaterThanOrEqual(Double(napping) / Double(max(blocked, 1)), 0.9,
                                    "off-CPU time under <module> → mixed → idle → nap: \(offCPU.prefix(5).map { $0.functions })")

        // The flamegraph page draws them as Python and names them so in the top table.
        var windows: [[String: Any]] = []
        for _ in 0..<40 where windows.isEmpty {
            windows = (try JSONSerialization.jsonObject(with: try agent.get("/profiles").body) as? [[String: Any]]) ?? []
            if windows.isEmpty { Thread.sleep(forTimeInterval: 0.2) }
        }
        let id = try XCTUnwrap(windows.last?["id"] as? Int, "no window closed")
        let page = String(decoding: try agent.get("/flamegraph?id=\(id)").body, as: UTF8.self)
        XCTAssertTrue(page.contains("<span class=\"tag\">python</span> hot_loop"), "hot_loop is not tagged python in Top functions")

        let metrics = try agent.getText("/metrics")
        XCTAssertEqual(DaemonProcess.metric("profiler_agent_interpreter_processes{runtime=\"cpython\",version=\"3.11\",state=\"profiled\"}", in: metrics), 1,
                       metrics.split(separator: "\n").filter { $0.contains("interpreter") }.joined(separator: "\n"))
        XCTAssertGreaterThan(DaemonProcess.metric("profiler_agent_python_frames_total", in: metrics) ?? 0, 0)
        XCTAssertGreaterThan(DaemonProcess.metric("profiler_agent_python_name_cache_total{result=\"hit\"}", in: metrics) ?? 0, 0)
        XCTAssertGreaterThan(DaemonProcess.metric("profiler_agent_python_name_cache_total{result=\"miss\"}", in: metrics) ?? 0, 0)
        _ = agent.terminate()
    }

    /// A slow lookup's exemplar opens a profile whose stacks show the Python function that
    /// resolved: the DNS call-site stack carries the same Python frames as the CPU samples.
    func testASlowLookupsExemplarShowsThePythonFunctionThatResolved() throws {
        let dns = try DNSFixture(test: self)
        let agent = try DaemonProcess(["--window", "1", "--tracers", "dns"])
        let run = try dns.run(["/usr/bin/python3.11", script, "resolve", "10", "pyslow-"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(run.output.split(separator: "\n").filter { $0.hasSuffix(" 0") }.count, 10, "every lookup resolves: \(run.output)")
        Thread.sleep(forTimeInterval: 2.5)  // the last windows close
        let metrics = try agent.getText("/metrics", accept: "application/openmetrics-text; version=1.0.0")
        let ok = TracerTests.lines("profiler_dns_lookup_duration_seconds_bucket", in: metrics).filter { $0.labels["result"] == "ok" }
        let bucket = try XCTUnwrap(ok.first { $0.labels["le"] == "0.131072" }, metrics.split(separator: "\n").filter { $0.contains("dns") }.joined(separator: "\n"))
        let span = try XCTUnwrap(bucket.exemplar["span_id"], "the 80 ms bucket has no exemplar: \(bucket)")
        let profile = try agent.get("/profiles?span_id=\(span)")
        XCTAssertEqual(profile.status, 200, String(decoding: profile.body, as: UTF8.self))
        let samples = PprofReader.flatten(try PprofReader.decode(profile.body))
        XCTAssertTrue(samples.contains { sample in
            PythonFramesTests.pythonChain(sample).starts(with: ["<module>", "resolve_names", "lookup"]) && sample.functions.contains("getaddrinfo")
        }, "the lookup's stacks: \(samples.map { zip($0.functions, $0.sourceFiles).map { $0.1.isEmpty ? $0.0 : "py:" + $0.0 } })")
        _ = agent.terminate()
    }

    /// Offsets that do not match the process (a test knob shifts one): the check refuses
    /// it, says why once, and the process is profiled natively — never mis-named.
    func testAProcessFailingTheLayoutCheckIsProfiledNativelyAndReported() throws {
        agentEnvironment["PROFILER_AGENT_PYTHON_SKEW_THREAD_ID"] = "8"
        try assertNative(python: "/usr/bin/python3.11", message: "thread states name a thread of the process")
    }

    /// A version without a layout (3.7): reported, profiled natively.
    func testAnUnsupportedVersionIsProfiledNativelyAndReported() throws {
        try assertNative(python: try pythonInterpreter(7), message: "CPython 3.7 is not supported")
    }

    func assertNative(python: String, message: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let fixture = try Command.start(python, [script, "single", "30"])
        addTeardownBlock { fixture.terminate(); fixture.waitUntilExit() }
        Thread.sleep(forTimeInterval: 1)
        let samples = try record(["--duration", "3", "--pid", String(fixture.processIdentifier)])
        let total = samples.reduce(0) { $0 + $1.count }
        XCTAssertGreaterThan(total, 100, file: file, line: line)
        XCTAssertTrue(samples.allSatisfy { PythonFramesTests.pythonChain($0).isEmpty }, "Python frames from a refused process", file: file, line: line)
        let native = samples.filter { $0.functions.contains { $0.hasPrefix("_PyEval_EvalFrameDefault") } }.reduce(0) { $0 + $1.count }
        XCTAssertGreaterThan(Double(native) / Double(total), 0.5, "the interpreter loop is still there, natively", file: file, line: line)
        XCTAssertTrue(lastAgentStderr.contains("profiled without Python frames") && lastAgentStderr.contains(message), lastAgentStderr,
                      file: file, line: line)
        XCTAssertEqual(lastAgentStderr.components(separatedBy: "profiled without Python frames").count - 1, 1, "reported once", file: file, line: line)
    }

    /// A Python process started while the agent runs has its Python frames from
    /// its first moments on (the exec request, then retries until its interpreter is up).
    func testAPythonProcessStartedAfterTheAgentGetsItsFrames() throws {
        let output = scratch.appendingPathComponent("later.pb.gz").path
        let recorder = try Command.start(TestEnvironment.agent, ["record", "--duration", "5", "--output", output])
        addTeardownBlock { if recorder.isRunning { recorder.terminate() }; recorder.waitUntilExit() }
        Thread.sleep(forTimeInterval: 1.5)
        let fixture = try Command.start("/usr/bin/python3.11", [script, "single", "30"])
        addTeardownBlock { fixture.terminate(); fixture.waitUntilExit() }
        recorder.waitUntilExit()
        XCTAssertEqual(recorder.terminationStatus, 0)
        let samples = try PprofReader.flatten(PprofReader.decode(Data(contentsOf: URL(fileURLWithPath: output))))
            .filter { $0.numericLabels["pid"] == Int64(fixture.processIdentifier) }
        let total = samples.reduce(0) { $0 + $1.count }
        let named = samples.filter { PythonFramesTests.expected.contains(PythonFramesTests.pythonChain($0)) }.reduce(0) { $0 + $1.count }
        XCTAssertGreaterThan(total, 150, "~3.5 s of a busy process")
        XCTAssertGreaterThanOrEqual(Double(named) / Double(max(total, 1)), 0.9, "\(named) of \(total) samples with the Python chain")
    }
}
