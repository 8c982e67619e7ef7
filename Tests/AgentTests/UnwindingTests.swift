import Foundation
import Pprof
import TestSupport
import XCTest

/// The table unwinder on code without frame pointers, judged against gdb's `bt`
/// on the same process at the same point, frame for frame.
class UnwindingTests: AgentTestCase {
    /// One frame of gdb's `bt`: its pc (nil when gdb prints none) and function.
    struct GDBFrame: CustomStringConvertible {
        var pc: UInt64?
        var function: String
        var description: String { "\(pc.map { "0x" + String($0, radix: 16) } ?? "-") \(function)" }
    }

    /// The backtrace gdb prints for the thread of `pid` that is in `function`, innermost first.
    func gdbBacktrace(_ pid: Int32, thread function: String) throws -> [GDBFrame] {
        let gdb = try XCTUnwrap(TestEnvironment.which("gdb"), "gdb missing: apt-get install gdb")
        let result = try Command.run(gdb, ["-batch", "-nx", "-p", String(pid), "-ex", "set backtrace past-main on",
                                           "-ex", "set backtrace past-entry on", "-ex", "thread apply all bt"])
        var threads: [[GDBFrame]] = [], current: [GDBFrame] = []
        let pattern = try NSRegularExpression(pattern: #"^#(\d+)\s+(?:0x([0-9a-f]+) in )?(<signal handler called>|\S+)"#)
        for line in result.output.split(separator: "\n").map(String.init) {
            guard let match = pattern.firstMatch(in: line, range: NSRange(line.startIndex..., in: line)),
                  let number = Range(match.range(at: 1), in: line).map({ Int(line[$0]) ?? -1 }) else { continue }
            if number == 0, !current.isEmpty { threads.append(current); current = [] }
            let pc = Range(match.range(at: 2), in: line).flatMap { UInt64(line[$0], radix: 16) }
            let name = Range(match.range(at: 3), in: line).map { String(line[$0]) } ?? "?"
            current.append(GDBFrame(pc: pc, function: name))
        }
        if !current.isEmpty { threads.append(current) }
        return try XCTUnwrap(threads.first { $0.contains { $0.function == function } },
                             "no thread of \(pid) is in \(function):\n\(result.output)\n\(result.stderr)")
    }

    /// What the agent must say on stderr when it records (nil: nothing required).
    var expectedNotice: String? { nil }

    /// The user frames (leaf first) of the agent's most frequent stack of `pid` that passes through `function`.
    func agentStack(_ pid: Int32, through function: String) throws -> [(address: UInt64, function: String)] {
        let samples = try record(["--pid", String(pid), "--duration", "3", "--unwinder", "dwarf"])
        if let notice = expectedNotice {
            XCTAssertTrue(lastAgentStderr.contains(notice), "the agent did not say \"\(notice)\":\n\(lastAgentStderr)")
        }
        var counts: [[UInt64]: (count: Int64, names: [String])] = [:]
        for sample in samples {
            let user = zip(sample.addresses, zip(sample.functions, sample.mappings)).filter { $0.1.1 != "[kernel.kallsyms]" }
            guard user.contains(where: { $0.1.0 == function }) else { continue }
            let key = user.map(\.0)
            counts[key, default: (0, user.map(\.1.0))].count += sample.values.first ?? 0
        }
        let top = try XCTUnwrap(counts.max { $0.value.count < $1.value.count }, "no sample of \(pid) passes through \(function)")
        return zip(top.key, top.value.names).map { ($0, $1) }
    }

    /// Frame 0 may stop anywhere in checkpoint's loop: same function (or same pc, in
    /// the kernel-mode scenario); every caller frame: the same return address.
    func assertSameStack(_ mode: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let fixture = try startFixture("unwind_scenarios", arguments: [mode])
        Thread.sleep(forTimeInterval: 0.3)
        let agent = try agentStack(fixture.processIdentifier, through: "checkpoint")
        let gdb = try gdbBacktrace(fixture.processIdentifier, thread: "checkpoint")
        let report = "agent:\n" + agent.map { "0x\(String($0.address, radix: 16)) \($0.function)" }.joined(separator: "\n")
            + "\ngdb:\n" + gdb.map(\.description).joined(separator: "\n")
        print("[\(mode)] \(agent.count) frames\n\(report)")
        XCTAssertEqual(agent.count, gdb.count, "[\(mode)] depth differs\n\(report)", file: file, line: line)
        for (index, (mine, theirs)) in zip(agent, gdb).enumerated() {
            if index == 0 {
                XCTAssertTrue(mine.function == theirs.function || mine.address == theirs.pc,
                              "[\(mode)] leaf differs\n\(report)", file: file, line: line)
            } else if theirs.pc == nil {
                // gdb's "<signal handler called>": the return address into glibc's __restore_rt (glibc puts
                // a nop before it for the −1 rule, so the symbol lookup at ra − 1 names no function).
                XCTAssertTrue(mine.function.contains("libc.so") || mine.function == "__restore_rt",
                              "[\(mode)] frame \(index) is not the signal trampoline\n\(report)", file: file, line: line)
            } else {
                XCTAssertEqual(mine.address, theirs.pc, "[\(mode)] frame \(index) differs\n\(report)", file: file, line: line)
            }
        }
    }

    func testSixDeepChainThroughALazyPLTLibraryEqualsGDB() throws { try assertSameStack("chain") }
    func testSignalHandlerEqualsGDB() throws { try assertSameStack("signal") }
    func testPthreadEqualsGDB() throws { try assertSameStack("thread") }
    func testAlignedLocalsEqualGDB() throws { try assertSameStack("aligned") }
    func testAllocaEqualsGDB() throws { try assertSameStack("alloca") }
    func testReadLoopSampledInTheKernelEqualsGDB() throws { try assertSameStack("read") }
}

/// The same six scenarios on the path the agent takes on kernels 5.8–5.14, run on
/// this kernel: the user registers of a task in the kernel read from the top of its
/// kernel stack instead of `bpf_task_pt_regs` (the `read` scenario is sampled in the
/// kernel; the others, sampled in user mode, must not change). Same bar: gdb's `bt`.
final class UnwindingWithoutTaskRegistersTests: UnwindingTests {
    override var expectedNotice: String? { "table unwinder on a kernel without bpf_task_pt_regs" }

    override func setUpWithError() throws {
        try super.setUpWithError()
        agentEnvironment["PROFILER_AGENT_UNWIND_WITHOUT"] = "task_regs"
    }

    // Declared again: test discovery on Linux lists only the methods a class declares itself.
    override func testSixDeepChainThroughALazyPLTLibraryEqualsGDB() throws { try assertSameStack("chain") }
    override func testSignalHandlerEqualsGDB() throws { try assertSameStack("signal") }
    override func testPthreadEqualsGDB() throws { try assertSameStack("thread") }
    override func testAlignedLocalsEqualGDB() throws { try assertSameStack("aligned") }
    override func testAllocaEqualsGDB() throws { try assertSameStack("alloca") }
    override func testReadLoopSampledInTheKernelEqualsGDB() throws { try assertSameStack("read") }
}

/// The table unwinder against `perf record --call-graph dwarf` on the same process
/// at the same time: stacks that reach the root, and the same call chains.
final class UnwindingAgreesWithPerfTests: AgentTestCase {
    /// A function name as both tools can agree on it: no symbol version, no `_impl`
    /// alias suffix, unnamed frames as "?".
    static func normalized(_ name: String) -> String {
        if name.hasPrefix("[") || name == "<no function>" { return "?" }
        var name = name.split(separator: "@").first.map(String.init) ?? name
        if name.hasSuffix("_impl") { name.removeLast(5) }
        if name.hasPrefix("__GI_") { name.removeFirst(5) }
        return name
    }

    /// Root-first chains of `perf script` (one per sample), user frames only.
    func perfChains(_ data: String) throws -> [[String]] {
        let perf = try XCTUnwrap(TestEnvironment.which("perf"), "perf missing: apt-get install linux-perf")
        let script = try Command.run(perf, ["script", "-i", data, "-F", "ip,sym,dso"])
        var chains: [[String]] = [], current: [String] = []
        for line in script.output.split(separator: "\n", omittingEmptySubsequences: false) {
            let fields = line.split(whereSeparator: \.isWhitespace)
            if fields.isEmpty {
                if !current.isEmpty { chains.append(current.reversed()) }
                current = []
                continue
            }
            guard fields.count >= 3, !line.contains("[kernel.kallsyms]") else { continue }
            let symbol = String(fields[1])
            current.append(Self.normalized(symbol == "[unknown]" ? "[" : symbol.split(separator: "+").first.map(String.init) ?? symbol))
        }
        if !current.isEmpty { chains.append(current.reversed()) }
        return chains
    }

    /// Samples per root-first chain, as shares.
    static func shares(_ chains: [([String], Int64)]) -> [[String]: Double] {
        let total = Double(chains.reduce(0) { $0 + $1.1 })
        var shares: [[String]: Double] = [:]
        for (chain, count) in chains { shares[chain, default: 0] += Double(count) / max(total, 1) }
        return shares
    }

    func compare(_ command: String, _ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let target = try Command.start(command, arguments)
        addTeardownBlock { target.terminate(); target.waitUntilExit() }
        Thread.sleep(forTimeInterval: 0.5)
        let pid = String(target.processIdentifier)
        let data = scratch.appendingPathComponent("perf.data").path
        let perfTool = try XCTUnwrap(TestEnvironment.which("perf"), "perf missing: apt-get install linux-perf")
        let perf = try Command.start(perfTool, ["record", "-q", "-F", "97", "--call-graph", "dwarf,65528", "-p", pid, "-o", data, "--", "sleep", "6"])
        let samples = try record(["--pid", pid, "--duration", "5", "--unwinder", "dwarf"])
        perf.waitUntilExit()
        let mine = samples.map { sample -> ([String], Int64) in
            // perf sees native frames only: each run of Python frames stands where the interpreter loop ran.
            var user: [String] = []
            for index in sample.functions.indices where sample.mappings[index] != "[kernel.kallsyms]" {
                let isPython = index < sample.sourceFiles.count && !sample.sourceFiles[index].isEmpty
                let wasPython = index > 0 && index - 1 < sample.sourceFiles.count && !sample.sourceFiles[index - 1].isEmpty
                if isPython && wasPython { continue }
                user.append(isPython ? "_PyEval_EvalFrameDefault" : Self.normalized(sample.functions[index]))
            }
            return (Array(user.reversed()), sample.values.first ?? 0)
        }
        let theirs = try perfChains(data).map { ($0, Int64(1)) }
        let roots: Set<String> = ["_start", "clone3", "clone"]
        func rootShare(_ chains: [([String], Int64)]) -> Double {
            let total = chains.reduce(0) { $0 + $1.1 }
            return Double(chains.filter { roots.contains($0.0.first ?? "") }.reduce(0) { $0 + $1.1 }) / Double(max(total, 1))
        }
        let (agentShares, perfShares) = (Self.shares(mine), Self.shares(theirs))
        let overlap = agentShares.reduce(0.0) { $0 + min($1.value, perfShares[$1.key] ?? 0) }
        let top = { (s: [[String]: Double]) in s.sorted { $0.value > $1.value }.prefix(3).map { "\(String(format: "%.3f", $0.value)) \($0.key.joined(separator: ";"))" }.joined(separator: "\n") }
        let report = "[\(command)] agent: \(mine.reduce(0) { $0 + $1.1 }) samples, \(String(format: "%.1f", 100 * rootShare(mine)))% reach the root; "
            + "perf: \(theirs.count) samples, \(String(format: "%.1f", 100 * rootShare(theirs)))%; weighted overlap \(String(format: "%.3f", overlap))\n"
            + "agent top:\n\(top(agentShares))\nperf top:\n\(top(perfShares))"
        print(report)
        XCTAssertGreaterThan(theirs.count, 20, "perf recorded too little to compare\n\(report)", file: file, line: line)
        XCTAssertGreaterThanOrEqual(rootShare(mine), 0.95, report, file: file, line: line)
        XCTAssertGreaterThanOrEqual(rootShare(mine), rootShare(theirs) - 0.005, report, file: file, line: line)
        XCTAssertGreaterThanOrEqual(overlap, 0.9, report, file: file, line: line)
    }

    func testDebianPython311AgreesWithPerf() throws {
        try compare("/usr/bin/python3.11", ["-c", "def hot():\n    while True: sum(i * i for i in range(1000))\nhot()"])
    }

    func testGCCFixtureWithoutFramePointersAgreesWithPerf() throws {
        try compare(TestEnvironment.fixture("unwind_scenarios"), ["chain"])
    }
}

/// Processes the table unwinder had never seen: started after the agent, and
/// libraries `dlopen`ed after their process was described. BPF asks the agent
/// to describe them (exec, unknown pid, pc in no mapping) and from then on
/// their stacks are whole, without waiting for the agent's next /proc scan.
final class UnwindingNewProcessesTests: AgentTestCase {
    /// Records every process for `seconds` while `launch` starts the target 1 s in;
    /// returns the target's samples.
    func samplesOfProcessStartedLater(seconds: Int = 4, _ launch: () throws -> Process) throws -> [PprofReader.FlatSample] {
        let output = scratch.appendingPathComponent("later.pb.gz").path
        let recording = try Command.start(TestEnvironment.agent, ["record", "--output", output, "--duration", String(seconds), "--unwinder", "dwarf"])
        Thread.sleep(forTimeInterval: 1.0)
        let target = try launch()
        addTeardownBlock { if target.isRunning { target.terminate() }; target.waitUntilExit() }
        recording.waitUntilExit()
        XCTAssertEqual(recording.terminationStatus, 0)
        let samples = PprofReader.flatten(try PprofReader.decode(Data(contentsOf: URL(fileURLWithPath: output))))
        return samples.filter { $0.numericLabels["pid"] == Int64(target.processIdentifier) }
    }

    /// Share of samples (weighted) whose user stack ends at `_start` (or `clone3`/`clone`), and a report.
    static func rootShare(_ samples: [PprofReader.FlatSample]) -> (share: Double, report: String) {
        let roots: Set<String> = ["_start", "clone3", "clone"]
        let total = samples.reduce(0) { $0 + ($1.values.first ?? 0) }
        let rooted = samples.filter { roots.contains($0.functions.last ?? "") }.reduce(0) { $0 + ($1.values.first ?? 0) }
        let broken = samples.filter { !roots.contains($0.functions.last ?? "") }.prefix(5).map { $0.functions.joined(separator: ";") }
        let share = Double(rooted) / Double(max(total, 1))
        return (share, "\(rooted)/\(total) samples reach the root; not:\n" + broken.joined(separator: "\n"))
    }

    func testAProcessStartedAfterTheAgentHasWholeStacks() throws {
        // gcc -O2 -fomit-frame-pointer: before it is described, the kernel's frame-pointer walk cannot get past main's callees.
        let samples = try samplesOfProcessStartedLater { try Command.start(TestEnvironment.fixture("unwind_scenarios"), ["chain"]) }
        let (share, report) = Self.rootShare(samples)
        print("[started later] \(report)")
        XCTAssertGreaterThan(samples.count, 0, "no sample of the process started later")
        XCTAssertGreaterThanOrEqual(share, 0.95, report)
        XCTAssertTrue(samples.contains { $0.functions.starts(with: ["checkpoint", "after_hop", "hop_in_library", "chain6"]) }, report)
    }

    func testALibraryDlopenedAfterTheProcessWasDescribedHasWholeStacks() throws {
        // Debian's python3.11 hashes in libcrypto, which _hashlib (a dlopened module) brings in 1 s after start.
        let script = "import time\ntime.sleep(1.0)\nimport hashlib\ndata = b'x' * (1 << 20)\nend = time.time() + 1.8\n"
            + "while time.time() < end:\n    hashlib.sha256(data).digest()\n"
        let samples = try samplesOfProcessStartedLater(seconds: 5) { try Command.start("/usr/bin/python3.11", ["-c", script]) }
        let inCrypto = samples.filter { $0.mappings.contains { $0.hasSuffix("libcrypto.so.3") } }
        let (share, report) = Self.rootShare(inCrypto)
        print("[dlopen] \(report)")
        XCTAssertGreaterThan(inCrypto.count, 0, "no sample in libcrypto: \(samples.prefix(3).map(\.functions))")
        XCTAssertGreaterThanOrEqual(share, 0.95, report)
    }
}
