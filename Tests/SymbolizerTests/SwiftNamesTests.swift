import Foundation
import Symbolizer
import TestSupport
import XCTest

/// Swift names shortened as `swift demangle --simplified` (the toolchain's own tool)
/// prints them, checked on every Swift function of the agent's own binary.
final class SwiftNamesTests: XCTestCase {
    /// The toolchain's `swift`, which builds these tests (so it is there whenever they run).
    func swiftTool() throws -> String {
        guard let swift = TestEnvironment.which("swift") else { throw ReferenceToolMissing(name: "swift (the toolchain)") }
        return swift
    }

    /// The Swift-mangled text symbols of the agent binary (`nm`).
    func agentSwiftFunctions() throws -> [String] {
        let result = try Command.run("/usr/bin/nm", ["--defined-only", TestEnvironment.agent])
        XCTAssertEqual(result.status, 0, result.stderr)
        return Array(Set(result.output.split(separator: "\n").compactMap { line -> String? in
            let fields = line.split(separator: " ")
            guard fields.count == 3, "tT".contains(fields[1]), fields[2].hasPrefix("$s") else { return nil }
            return String(fields[2])
        })).sorted()
    }

    /// `swift demangle` on `names`, one line each.
    func swiftDemangle(_ names: [String], simplified: Bool) throws -> [String] {
        let result = try Command.run(try swiftTool(), ["demangle"] + (simplified ? ["--simplified"] : []),
                                     input: Data((names.joined(separator: "\n") + "\n").utf8))
        XCTAssertEqual(result.status, 0, result.stderr)
        let lines = result.output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        return Array(lines.prefix(names.count))
    }

    func testEverySwiftFunctionOfTheAgentAsSwiftDemangleSimplifiedPrintsIt() throws {
        let names = try agentSwiftFunctions()
        XCTAssertGreaterThan(names.count, 20_000, "the agent binary should hold tens of thousands of Swift functions")
        let expected = try swiftDemangle(names, simplified: true)
        let full = try swiftDemangle(names, simplified: false)
        XCTAssertEqual(expected.count, names.count)
        var differ: [String] = []
        var longer = 0, specializationsLeft = 0, fullShorter = 0, fullSame = 0
        for (index, name) in names.enumerated() where index < expected.count {
            let ours = Demangler.demangle(name)
            if ours != expected[index] { differ.append("\(name)\n  swift demangle --simplified: \(expected[index])\n  agent:                       \(ours)") }
            if ours.utf8.count > Demangler.demangle(name, swift: .full).utf8.count { longer += 1 }
            if ours.contains("specialization <") { specializationsLeft += 1 }
            // The full form is the runtime's: `swift demangle`'s, but with `Swift.Optional<A>` for `A?`.
            let runtime = Demangler.demangle(name, swift: .full)
            if runtime.replacingOccurrences(of: "Swift.", with: "").count < full[index].replacingOccurrences(of: "Swift.", with: "").count - 64 {
                fullShorter += 1
            }
            if runtime == ours { fullSame += 1 }
        }
        let report = "\(names.count) Swift functions, \(differ.count) differ from swift demangle --simplified, "
            + "\(longer) longer than the full form, \(specializationsLeft) with a specialisation left"
        print(report)
        print(differ.prefix(5).joined(separator: "\n"))
        // Measured: 71 of 80,706 differ (local types in conformances, `@substituted` thunks).
        XCTAssertLessThanOrEqual(Double(differ.count), 0.002 * Double(names.count), report)
        XCTAssertEqual(longer, 0, report)
        XCTAssertEqual(specializationsLeft, 0, report)
        XCTAssertEqual(fullShorter, 0, "--full-swift-names lost text the runtime prints")
        XCTAssertLessThan(fullSame * 20, names.count, "--full-swift-names should keep modules and types")
    }

    /// Shapes a flamegraph shows most, written out.
    func testCommonShapes() {
        let cases: [(String, String)] = [
            ("generic specialization <Symbolizer.Frame> of Swift._merge<A>(low: Swift.UnsafeMutablePointer<A>, mid: Swift.UnsafeMutablePointer<A>, high: Swift.UnsafeMutablePointer<A>, buffer: Swift.UnsafeMutablePointer<A>, by: (A, A) throws -> Swift.Bool) throws -> Swift.Bool",
             "specialized _merge<A>(low:mid:high:buffer:by:)"),
            ("function signature specialization <Arg[1] = [Closure Propagated : $s10Symbolizer1fyyFSbSi_SitXEfU_, Argument Types : []> of generic specialization <Swift.Int> of Swift.MutableCollection.sort(by: (A.Element, A.Element) throws -> Swift.Bool) throws -> ()",
             "specialized MutableCollection.sort(by:)"),
            ("closure #1 (Swift.UnsafeRawBufferPointer) -> Swift.Int in Symbolizer.ELFFile.read(at: Swift.UInt64, count: Swift.Int) throws -> [Swift.UInt8]",
             "closure #1 in ELFFile.read(at:count:)"),
            ("partial apply forwarder for closure #2 @Sendable () -> () in AgentCore.UnwindRequestReader.start() -> ()",
             "partial apply for closure #2 in UnwindRequestReader.start()"),
            ("protocol witness for Swift.Hashable.hash(into: inout Swift.Hasher) -> () in conformance Symbolizer.MemoryMapping : Swift.Hashable in Symbolizer",
             "protocol witness for Hashable.hash(into:) in conformance MemoryMapping"),
            ("static Symbolizer.SwiftNameSimplifier.simplify(Swift.String) -> Swift.String", "static SwiftNameSimplifier.simplify(_:)"),
            ("Symbolizer.LoadedBinary.function(at: Swift.UInt64) -> (name: Swift.String, systemName: Swift.String)?", "LoadedBinary.function(at:)"),
            ("AgentCore.ProfileWindow.samples.getter : [Pprof.StackSample]", "ProfileWindow.samples.getter"),
            ("(3) suspend resume partial function for AgentService.AgentDaemon.run(log: (Swift.String) -> ()) async throws -> ()", "AgentDaemon.run(log:)"),
            ("Symbolizer.(Cursor in _0123456789ABCDEF0123456789ABCDEF).next() -> Swift.UInt8?", "Cursor.next()"),
            ("static Swift.Comparable.< infix(A, A) -> Swift.Bool", "static Comparable.< infix(_:_:)"),
            ("reabstraction thunk helper from @escaping @callee_guaranteed (@guaranteed Swift.String) -> () to @escaping @callee_guaranteed (@in_guaranteed Swift.String) -> (@out ())",
             "thunk for @escaping @callee_guaranteed (@guaranteed String) -> ()"),
        ]
        for (verbose, simplified) in cases { XCTAssertEqual(SwiftNameSimplifier.simplify(verbose), simplified, verbose) }
    }

    /// Every prefix of real names, and names with bytes swapped for brackets, come back
    /// without a crash (bracket matching and index arithmetic on broken text).
    func testBrokenTextNeverTraps() throws {
        let names = try agentSwiftFunctions()
        let full = try swiftDemangle(Array(names.prefix(4_000).enumerated().filter { $0.offset % 10 == 0 }.map(\.element)), simplified: false)
        var random = SplitMix64(seed: 14)
        let brackets = Array("()<>[]{}:., -#".utf8)
        var checked = 0
        for verbose in full {
            let bytes = Array(verbose.utf8)
            for cut in stride(from: 0, through: bytes.count, by: max(1, bytes.count / 40)) {
                _ = SwiftNameSimplifier.simplify(String(decoding: bytes[..<cut], as: UTF8.self))
                checked += 1
            }
            for _ in 0..<20 where !bytes.isEmpty {
                var mutated = bytes
                for _ in 0..<3 { mutated[Int(random.next() % UInt64(mutated.count))] = brackets[Int(random.next() % UInt64(brackets.count))] }
                _ = SwiftNameSimplifier.simplify(String(decoding: mutated, as: UTF8.self))
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 10_000)
    }
}
