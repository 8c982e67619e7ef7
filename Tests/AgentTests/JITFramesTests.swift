import Foundation
import Pprof
import TestSupport
import XCTest

/// JIT-compiled JavaScript named from Node's perf map (`--perf-basic-prof`),
/// judged against `perf record -g` (400 Hz; it reads the same map) on the same
/// process at the same time (`Fixtures/node_chain.js`).
final class JITFramesTests: AgentTestCase {
    var script: String { TestEnvironment.packageRoot.appendingPathComponent("Fixtures/node_chain.js").path }
    /// The perf map, separate frames once optimised, and no V8 log file in the working directory.
    static let nodeFlags = ["--perf-basic-prof", "--interpreted-frames-native-stack", "--no-turbo-inlining",
                            "--logfile=/dev/null", "--no-logfile-per-isolate"]

    /// Starts the fixture; stops it and removes its perf map (Node leaves it) at teardown.
    func startNode(_ arguments: [String]) throws -> Process {
        let target = try Command.start(try node(), Self.nodeFlags + [script] + arguments)
        addTeardownBlock {
            target.terminate()
            target.waitUntilExit()
            try? FileManager.default.removeItem(atPath: "/tmp/perf-\(target.processIdentifier).map")
        }
        return target
    }

    func node() throws -> String {
        try XCTUnwrap(TestEnvironment.which("node") ?? TestEnvironment.which("nodejs"), "node missing: apt-get install nodejs (scripts/setup.sh)")
    }

    /// The function of a V8 perf-map name ("JS:*hotLoop /path/x.js:1:17" → "hotLoop"; the
    /// tier mark ~ ^ + * dropped), nil for frames that are not JavaScript of `file`.
    /// Node 20+ writes "JS:", Node 18 and older "LazyCompile:" or "Function:".
    static func jsFunction(_ name: some StringProtocol, in file: String? = nil) -> String? {
        guard let prefix = ["JS:", "LazyCompile:", "Function:"].first(where: { name.hasPrefix($0) }) else { return nil }
        var rest = name.dropFirst(prefix.count)
        if let mark = rest.first, "~^+*".contains(mark) { rest = rest.dropFirst() }
        let function = String(rest.prefix { $0 != " " })
        if let file, !rest.contains(file) { return nil }
        return function.isEmpty ? nil : function
    }

    /// The named JavaScript functions of `file` in a leaf-first stack, outermost first.
    static func jsChain(_ leafFirst: [String], in file: String? = nil) -> [String] {
        leafFirst.reversed().compactMap { jsFunction($0, in: file) }
    }

    /// The symbols of each sample `perf script` prints, leaf first.
    func perfStacks(_ data: String) throws -> [[String]] {
        let perf = try XCTUnwrap(TestEnvironment.which("perf"), "perf missing: apt-get install linux-perf")
        let script = try Command.run(perf, ["script", "-i", data, "-F", "ip,sym"])
        var stacks: [[String]] = [], current: [String] = []
        for line in script.output.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            guard let space = trimmed.firstIndex(of: " ") else {
                if trimmed.isEmpty, !current.isEmpty { stacks.append(current); current = [] }
                continue
            }
            current.append(String(trimmed[trimmed.index(after: space)...]))
        }
        if !current.isEmpty { stacks.append(current) }
        return stacks
    }

    /// Compares the agent's chains (one per sampled count) with perf's (one per sample):
    /// enough of each, ≥ 90 % of the agent's exactly an expected chain, no fewer than perf's
    /// less 3 points, and the shares of the chains overlapping ≥ 0.9. Returns the report.
    @discardableResult
    func assertAgree(_ label: String, ours: [[String]], theirs: [[String]], expected: Set<[String]>,
                     file: StaticString = #filePath, line: UInt = #line) -> String {
        let exact = { (chains: [[String]]) in Double(chains.filter(expected.contains).count) / Double(max(chains.count, 1)) }
        let (mine, perfs) = (Self.shares(ours), Self.shares(theirs))
        let overlap = mine.reduce(0.0) { $0 + min($1.value, perfs[$1.key] ?? 0) }
        let top = { (s: [[String]: Double]) in
            s.sorted { $0.value > $1.value }.prefix(4).map { "  \(String(format: "%.3f", $0.value)) \($0.key.joined(separator: " → "))" }.joined(separator: "\n")
        }
        let shown = expected.sorted { $0.joined() < $1.joined() }.map { $0.joined(separator: " → ") }.joined(separator: " | ")
        let report = "\(label): agent \(ours.count) samples, \(String(format: "%.1f", 100 * exact(ours))) % exactly \(shown); "
            + "perf \(theirs.count) samples, \(String(format: "%.1f", 100 * exact(theirs))) %; weighted overlap \(String(format: "%.3f", overlap))\n"
            + "agent:\n\(top(mine))\nperf:\n\(top(perfs))"
        print(report)
        XCTAssertGreaterThan(ours.count, 300, report, file: file, line: line)  // of about 580 (6 s at 97 Hz)
        XCTAssertGreaterThan(theirs.count, 1200, report, file: file, line: line)  // of about 2,400 (6 s at 400 Hz)
        XCTAssertGreaterThanOrEqual(exact(ours), 0.9, report, file: file, line: line)
        XCTAssertGreaterThanOrEqual(exact(ours), exact(theirs) - 0.03, report, file: file, line: line)
        XCTAssertGreaterThanOrEqual(overlap, 0.9, report, file: file, line: line)
        return report
    }

    static func shares(_ chains: [[String]]) -> [[String]: Double] {
        var shares: [[String]: Double] = [:]
        for chain in chains { shares[chain, default: 0] += 1 / Double(max(chains.count, 1)) }
        return shares
    }

    func testNodeJavaScriptChainsAgreeWithPerf() throws {
        let target = try startNode(["single", "30"])
        Thread.sleep(forTimeInterval: 1)  // past start-up and the first tier-ups
        let pid = String(target.processIdentifier)
        let data = scratch.appendingPathComponent("perf.data").path
        let perfTool = try XCTUnwrap(TestEnvironment.which("perf"), "perf missing: apt-get install linux-perf")
        let perf = try Command.start(perfTool, ["record", "-q", "-F", "400", "-g", "-p", pid, "-o", data, "--", "sleep", "6"])
        let samples = try record(["--pid", pid, "--duration", "6"])
        perf.waitUntilExit()
        let file = "node_chain.js"
        let expected: Set<[String]> = [["main", "handleRequest", "parse", "hotLoop"], ["main", "handleRequest", "parse", "coldLoop"]]
        var ours: [[String]] = []
        for sample in samples {
            ours += Array(repeating: Self.jsChain(sample.functions, in: file), count: Int(sample.values.first ?? 0))
        }
        let theirs = try perfStacks(data).map { Self.jsChain($0, in: file) }
        let report = assertAgree("node", ours: ours, theirs: theirs, expected: expected)
        // The JavaScript sits between the native frames that entered it: node::Start below, _start at the root.
        let rooted = samples.filter { sample in
            sample.functions.last == "_start" && sample.functions.contains { $0.hasPrefix("node::Start") }
                && sample.functions.contains { ["hotLoop", "coldLoop"].contains(Self.jsFunction($0)) }
        }.reduce(0) { $0 + ($1.values.first ?? 0) }
        XCTAssertGreaterThanOrEqual(Double(rooted) / Double(max(ours.count, 1)), 0.9, "JS frames not under node::Start and _start\n\(report)")
        XCTAssertTrue(samples.allSatisfy { sample in
            zip(sample.functions, sample.mappings).allSatisfy { Self.jsFunction($0.0) == nil || $0.1.hasPrefix("/tmp/perf-") }
        }, "JIT frames carry the perf map as their mapping")
    }

    /// The method of a HotSpot perf-map name ("long JavaChain.hotLoop(int)" → "hotLoop"), nil
    /// for other frames (the interpreter, stubs, other classes).
    static func javaMethod(_ name: String) -> String? {
        guard let dot = name.range(of: " JavaChain.")?.upperBound, let paren = name[dot...].firstIndex(of: "(") else { return nil }
        return String(name[dot..<paren])
    }

    /// Compiled Java named from the map `jcmd PID Compiler.perfmap` writes, against `perf record -g`
    /// on the same JVM (run with -XX:+PreserveFramePointer), main thread only (under `JavaMain`).
    func testJVMCompiledMethodsAgreeWithPerf() throws {
        let java = try XCTUnwrap(TestEnvironment.which("java"), "java missing: apt-get install openjdk-17-jdk-headless (scripts/setup.sh)")
        let jcmd = try XCTUnwrap(TestEnvironment.which("jcmd"), "jcmd missing: apt-get install openjdk-17-jdk-headless")
        let classes = URL(fileURLWithPath: TestEnvironment.fixture("JavaChain.class")).deletingLastPathComponent().path
        let target = try Command.start(java, ["-XX:+PreserveFramePointer", "-XX:CompileCommand=quiet", "-XX:CompileCommand=dontinline,JavaChain::*",
                                              "-Xss1m", "-cp", classes, "JavaChain", "30"])
        addTeardownBlock {
            target.terminate()
            target.waitUntilExit()
            try? FileManager.default.removeItem(atPath: "/tmp/perf-\(target.processIdentifier).map")
        }
        // The map is a snapshot of the code cache when jcmd runs: write it once every method of
        // the chain is compiled, after at least 3 s (the hot ones then have their C2 code).
        let pid = String(target.processIdentifier)
        let methods = ["handleRequest", "parse", "hotLoop", "coldLoop"]
        var compiled = false
        Thread.sleep(forTimeInterval: 2)
        for _ in 0..<10 where !compiled {
            Thread.sleep(forTimeInterval: 1)
            let dump = try Command.run(jcmd, [pid, "Compiler.perfmap"])
            XCTAssertEqual(dump.status, 0, "jcmd: \(dump.output)")
            let map = (try? String(contentsOfFile: "/tmp/perf-\(pid).map", encoding: .utf8)) ?? ""
            compiled = methods.allSatisfy { map.contains(" JavaChain.\($0)(") }
        }
        XCTAssertTrue(compiled, "the chain's methods were not all compiled within 12 s")
        let data = scratch.appendingPathComponent("perf.data").path
        let perfTool = try XCTUnwrap(TestEnvironment.which("perf"), "perf missing: apt-get install linux-perf")
        let perf = try Command.start(perfTool, ["record", "-q", "-F", "400", "-g", "-p", pid, "-o", data, "--", "sleep", "6"])
        let samples = try record(["--pid", pid, "--duration", "6"])
        perf.waitUntilExit()
        let expected: Set<[String]> = [["handleRequest", "parse", "hotLoop"], ["handleRequest", "parse", "coldLoop"]]
        func chain(_ leafFirst: [String]) -> [String] {
            // main may run interpreted ("Interpreter") or compiled (OSR): leave it out of the chain.
            leafFirst.reversed().compactMap(Self.javaMethod).filter { $0 != "main" }
        }
        var ours: [[String]] = []
        for sample in samples where sample.functions.contains("JavaMain") {
            ours += Array(repeating: chain(sample.functions), count: Int(sample.values.first ?? 0))
        }
        let theirs = try perfStacks(data).filter { $0.contains("JavaMain") }.map(chain)
        assertAgree("jvm (main thread)", ours: ours, theirs: theirs, expected: expected)
    }

    /// Code compiled after the agent started is named: the map is tailed, not read once.
    func testCodeCompiledAfterTheAgentStartedIsNamed() throws {
        let target = try startNode(["late", "30", "4"])
        Thread.sleep(forTimeInterval: 0.5)
        let samples = try record(["--pid", String(target.processIdentifier), "--duration", "7"])
        var warm: Int64 = 0, late: Int64 = 0, total: Int64 = 0
        var others: [String: Int64] = [:]
        for sample in samples {
            let count = sample.values.first ?? 0
            total += count
            let chain = Self.jsChain(sample.functions)
            if chain.suffix(2) == ["warmUp", "spinWarm"] { warm += count }
            else if chain.last == "lateLoop" { late += count }
            else { others[chain.joined(separator: " → ") + " | leaf " + (sample.functions.first ?? ""), default: 0] += count }
        }
        let report = "late: \(total) samples, warm-up \(warm), late code \(late); others: \(others.sorted { $0.value > $1.value }.prefix(5))"
        print(report)
        XCTAssertGreaterThan(warm, 50, "the agent did not sample before the late code was compiled\n\(report)")
        XCTAssertGreaterThan(late, 150, report)
        XCTAssertGreaterThanOrEqual(Double(warm + late) / Double(max(total, 1)), 0.9, report)
    }
}
