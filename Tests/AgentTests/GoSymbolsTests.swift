import Foundation
import Pprof
import TestSupport
import XCTest

/// Stripped Go binaries (`-ldflags="-s -w"`, as Go images ship) named from Go's own
/// function table, judged against `go tool addr2line` on the unstripped twin.
final class GoSymbolsTests: AgentTestCase {
    /// Every function of the twin, at its first byte, middle and last byte: the agent's
    /// `symbolize --lines` on the stripped binary prints exactly what `go tool addr2line`
    /// prints on the unstripped one (function, file:line). For an executable, the same
    /// without section headers (the table then found by its magic), and a PIE (its table
    /// in `.data.rel.ro`): Go 1.19's addr2line cannot read a PIE, and the PIE's code
    /// differs inside functions, so there each function's entry is compared with
    /// addr2line at the executable's entry of the same function (assembly functions by
    /// name only: their first instructions differ in a PIE).
    func testStrippedGoAgreesWithGoToolAddr2lineOnTheUnstrippedTwin() throws {
        let twin = try GoFixture.build("chain", in: scratch)
        let stripped = try GoFixture.build("chain-stripped", in: scratch, flags: ["-ldflags=-s -w"])
        let sectionless = try GoFixture.withoutSectionHeaders(stripped, as: stripped + "-no-sections")
        let pieTwin = try GoFixture.build("chain-pie", in: scratch, flags: ["-buildmode=pie"])
        let pie = try GoFixture.build("chain-pie-stripped", in: scratch, flags: ["-buildmode=pie", "-ldflags=-s -w"])
        let functions = try GoFixture.functions(twin, in: scratch)
        XCTAssertGreaterThan(functions.count, 1000, "go tool nm listed too few functions")
        XCTAssertTrue(functions.contains { $0.name == "main.parse" })
        let offsets = { (f: NMSymbol) in [0, f.size / 2, f.size - 1] }
        let probes = functions.flatMap { f in offsets(f).map { f.address + $0 } }
        let reference = try addr2line(twin, probes)

        // The PIE: each function's entry against the executable's entry of the same name.
        let byName = Dictionary(functions.map { ($0.name, $0.address) }, uniquingKeysWith: { a, _ in a })
        let pieFunctions = try GoFixture.functions(pieTwin, in: scratch)
        let piePairs = pieFunctions.compactMap { f in byName[f.name].map { (pie: f.address, exe: $0) } }
        XCTAssertGreaterThanOrEqual(Double(piePairs.count) / Double(pieFunctions.count), 0.99, "the PIE has functions the executable lacks")
        let pieReference = try addr2line(twin, piePairs.map(\.exe))

        for (binary, addresses, expected) in [(stripped, probes, reference), (sectionless, probes, reference), (pie, piePairs.map(\.pie), pieReference)] {
            let hex = addresses.map { "0x" + String($0, radix: 16) }
            let ours = try agent(["symbolize", "--elf", binary, "--lines"], input: Data((hex.joined(separator: "\n") + "\n").utf8))
            XCTAssertEqual(ours.status, 0, ours.stderr)
            let lines = ours.output.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
            XCTAssertEqual(lines.count, 2 * addresses.count, binary)
            var differing: [String] = []
            for (i, address) in hex.enumerated() where 2 * i + 1 < lines.count {
                // A PIE's assembly functions start with other instructions (TLS access): their names only.
                let assembly = binary == pie && expected[2 * i + 1].contains(".s:")
                if lines[2 * i] != expected[2 * i] || (!assembly && lines[2 * i + 1] != expected[2 * i + 1]) {
                    differing.append("\(address): ours \(lines[2 * i]) \(lines[2 * i + 1]), go tool addr2line \(expected[2 * i]) \(expected[2 * i + 1])")
                }
            }
            print("\(URL(fileURLWithPath: binary).lastPathComponent): \(addresses.count) addresses, \(differing.count) differ")
            XCTAssertEqual(differing.count, 0, "\(binary):\n" + differing.prefix(20).joined(separator: "\n"))
        }
    }

    /// `go tool addr2line` on `binary`: two lines per address (function, file:line).
    func addr2line(_ binary: String, _ addresses: [UInt64]) throws -> [String] {
        let hex = addresses.map { "0x" + String($0, radix: 16) }.joined(separator: "\n") + "\n"
        let result = try GoFixture.tool(["addr2line", binary], in: scratch, input: Data(hex.utf8))
        XCTAssertEqual(result.status, 0, result.stderr)
        let lines = result.output.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
        XCTAssertEqual(lines.count, 2 * addresses.count)
        XCTAssertFalse(lines.contains("?"), "go tool addr2line could not name an address of \(binary)")
        return lines
    }

    /// A running stripped Go program: ≥ 95 % of its samples carry the known chain, named,
    /// under runtime.main; `go tool pprof` reads the profile and shows the chain's lines.
    func testStrippedGoProgramProfileNamesTheChain() throws {
        let binary = try GoFixture.build("chain-stripped", in: scratch, flags: ["-ldflags=-s -w"])
        let target = try Command.start(binary, ["30"])
        addTeardownBlock { target.terminate(); target.waitUntilExit() }
        Thread.sleep(forTimeInterval: 0.5)
        let output = scratch.appendingPathComponent("go.pb.gz").path
        let result = try agent(["record", "--output", output, "--pid", String(target.processIdentifier), "--duration", "6"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let samples = PprofReader.flatten(try PprofReader.decode(Data(contentsOf: URL(fileURLWithPath: output))))
        let expected: Set<[String]> = [["main.main", "main.handleRequest", "main.parse", "main.hotLoop"],
                                       ["main.main", "main.handleRequest", "main.parse", "main.coldLoop"]]
        var total: Int64 = 0, named: Int64 = 0
        var others: [String: Int64] = [:]
        for sample in samples {
            let count = sample.values.first ?? 0
            total += count
            let outermostFirst = Array(sample.functions.reversed())
            let chain = outermostFirst.filter { $0.hasPrefix("main.") }
            if expected.contains(chain), outermostFirst.firstIndex(of: "runtime.main").map({ $0 < outermostFirst.firstIndex(of: "main.main")! }) == true {
                named += count
            } else {
                others[sample.functions.joined(separator: " ← "), default: 0] += count
            }
        }
        let report = "stripped go: \(total) samples, \(named) with the chain named; others: \(others.sorted { $0.value > $1.value }.prefix(5))"
        print(report)
        XCTAssertGreaterThan(total, 300, report)
        XCTAssertGreaterThanOrEqual(Double(named) / Double(max(total, 1)), 0.95, report)
        // A real consumer: go tool pprof lists the loops with their source lines.
        let top = try GoFixture.tool(["pprof", "-top", "-lines", output], in: scratch)
        XCTAssertEqual(top.status, 0, top.stderr)
        for function in ["main.hotLoop", "main.coldLoop", "main.parse"] {
            XCTAssertTrue(top.output.contains("\(function) \(GoFixture.source):"), "\(function) with its file:line\n\(top.output)")
        }
    }
}
