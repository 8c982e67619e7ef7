import Foundation
import Pprof
import TestSupport
import XCTest

/// The agent's own Swift frames in a profile, named as `swift demangle --simplified`
/// names them (the pprof function's system name keeps the mangled symbol), and in the
/// runtime's full form with `--full-swift-names`.
final class SwiftFramesTests: AgentTestCase {
    /// Swift functions of a profile: (name, mangled system name).
    func swiftFunctions(_ path: String) throws -> [(name: String, mangled: String)] {
        let profile = try PprofReader.decode(Data(contentsOf: URL(fileURLWithPath: path)))
        let strings = profile.stringTable
        return profile.function.compactMap { function in
            let system = strings[Int(function.systemName)]
            return system.hasPrefix("$s") ? (strings[Int(function.name)], system) : nil
        }
    }

    /// A Swift workload: the agent's `symbolize` naming every function of its own binary, six times over.
    func startSwiftWorkload() throws -> Process {
        let symbols = try Command.run("/usr/bin/nm", ["--defined-only", TestEnvironment.agent])
        XCTAssertEqual(symbols.status, 0, symbols.stderr)
        let addresses = symbols.output.split(separator: "\n").compactMap { line -> Substring? in
            let fields = line.split(separator: " ")
            return fields.count == 3 && "tT".contains(fields[1]) ? fields[0] : nil
        }
        let input = scratch.appendingPathComponent("addresses.txt")
        try Data(addresses.joined(separator: "\n").utf8).write(to: input)
        let loop = "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do \"$1\" symbolize --elf \"$1\" < \"$2\" > /dev/null; done"
        let workload = try Command.start("/bin/sh", ["-c", loop, "workload", TestEnvironment.agent, input.path])
        addTeardownBlock { if workload.isRunning { workload.terminate() }; workload.waitUntilExit() }
        return workload
    }

    func testTheAgentsOwnFramesAreSimplifiedLikeSwiftDemangle() throws {
        guard let swift = TestEnvironment.which("swift") else { throw ReferenceToolMissing(name: "swift (the toolchain)") }
        _ = try startSwiftWorkload()
        let simplified = scratch.appendingPathComponent("simplified.pb.gz").path
        let result = try agent(["record", "--duration", "4", "--output", simplified])
        XCTAssertEqual(result.status, 0, result.stderr)
        let full = scratch.appendingPathComponent("full.pb.gz").path
        let fullResult = try agent(["record", "--duration", "3", "--full-swift-names", "--output", full])
        XCTAssertEqual(fullResult.status, 0, fullResult.stderr)

        let functions = try swiftFunctions(simplified)
        XCTAssertGreaterThan(functions.count, 50, "too few Swift functions sampled to judge")
        let reference = try Command.run(swift, ["demangle", "--simplified"],
                                        input: Data((functions.map(\.mangled).joined(separator: "\n") + "\n").utf8))
        XCTAssertEqual(reference.status, 0, reference.stderr)
        let expected = reference.output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var differ: [String] = []
        for (index, function) in functions.enumerated() where index < expected.count && function.name != expected[index] {
            differ.append("\(function.mangled): agent \(function.name), swift demangle --simplified \(expected[index])")
        }
        print("agent profile: \(functions.count) Swift functions, \(differ.count) differ from swift demangle --simplified")
        XCTAssertEqual(differ, [], "names differ")
        XCTAssertFalse(functions.contains { $0.name.contains("specialization <") })

        // --full-swift-names: the runtime's form, modules and parameter types included.
        let verbose = try swiftFunctions(full)
        XCTAssertGreaterThan(verbose.count, 50)
        let withModules = verbose.filter { $0.name.contains("Symbolizer.") || $0.name.contains("Swift.") }.count
        XCTAssertGreaterThan(withModules * 2, verbose.count, "the full names should carry their modules: \(verbose.prefix(5))")
    }
}
