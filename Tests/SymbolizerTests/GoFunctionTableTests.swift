import Foundation
import Symbolizer
import TestSupport
import XCTest

/// Go's function table read from a stripped binary, against the unstripped twin's DWARF
/// as llvm-symbolizer reads it (`--inlines`): the same chain of inlined calls, the same
/// functions and lines, at every instruction of the fixture's own package.
final class GoFunctionTableTests: XCTestCase {
    var scratch: URL!

    override func setUp() { scratch = TestEnvironment.temporaryDirectory() }
    override func tearDown() { try? FileManager.default.removeItem(at: scratch) }

    func testInlinedCallsAgreeWithDWARFOfTheTwin() throws {
        let twin = try GoFixture.build("chain", in: scratch)
        let stripped = try GoFixture.build("chain-stripped", in: scratch, flags: ["-ldflags=-s -w"])
        let table = try XCTUnwrap(GoFunctionTable.find(in: ELFFile(source: FileByteSource(path: stripped))), "no .gopclntab found")
        XCTAssertEqual(table.format, .go118, "Debian's Go 1.19 writes the 1.18 layout")
        // Every instruction of main.* (and of a few runtime functions with inlined calls).
        let objdump = try GoFixture.tool(["objdump", "-s", "^(main\\.|runtime\\.(mallocgc|schedule|findrunnable)$)", twin], in: scratch)
        XCTAssertEqual(objdump.status, 0, objdump.stderr)
        let addresses = objdump.output.split(separator: "\n").compactMap { line -> UInt64? in
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count > 2, fields[1].hasPrefix("0x") else { return nil }
            return UInt64(fields[1].dropFirst(2), radix: 16)
        }
        XCTAssertGreaterThan(addresses.count, 500)
        let llvm = try XCTUnwrap(TestEnvironment.which("llvm-symbolizer"), "llvm-symbolizer missing")
        let input = addresses.map { "0x" + String($0, radix: 16) }.joined(separator: "\n") + "\n"
        let reference = try Command.run(llvm, ["--obj=\(twin)", "--inlines"], input: Data(input.utf8))
        XCTAssertEqual(reference.status, 0, reference.stderr)
        // One block per address: "function\nfile:line:column" per frame, innermost first.
        let blocks = reference.output.components(separatedBy: "\n\n").filter { !$0.isEmpty }
        XCTAssertEqual(blocks.count, addresses.count)
        var inlined = 0, differing: [String] = []
        for (address, block) in zip(addresses, blocks) {
            let lines = block.split(separator: "\n").map(String.init)
            let expected = stride(from: 0, to: lines.count - 1, by: 2).map { i -> String in
                let location = lines[i + 1].split(separator: ":")
                return "\(lines[i]) \(location.dropLast(2).joined(separator: ":")):\(location.dropLast().last ?? "")"
            }
            let ours = table.frames(at: address).map { "\($0.function) \($0.file):\($0.line)" }
            if expected.count > 1 { inlined += 1 }
            if ours != expected { differing.append("0x\(String(address, radix: 16)): ours \(ours), DWARF \(expected)") }
        }
        print("go inline frames: \(addresses.count) addresses, \(inlined) with inlined calls, \(differing.count) differ")
        XCTAssertGreaterThan(inlined, 50, "too few addresses with inlined calls to judge")
        XCTAssertEqual(differing.count, 0, differing.prefix(20).joined(separator: "\n"))
    }

    /// Debian's stripped, externally linked /usr/bin/prometheus (Go 1.19, a binary nobody here
    /// built) against its own runtime: a SIGQUIT traceback (GOTRACEBACK=system) names every
    /// frame, inlined ones included, with file:line and pc. Each physical frame's functions and
    /// lines must be exactly what the table gives at pc − 1 (at pc for the frame the signal
    /// interrupted). `go tool addr2line` cannot judge this binary: Go 1.19's debug/gosym bases
    /// entries on the .text section, which cgo's C code starts 0x100 bytes earlier.
    func testDebianPrometheusAgreesWithItsOwnTraceback() throws {
        let prometheus = "/usr/bin/prometheus"
        guard FileManager.default.isExecutableFile(atPath: prometheus) else { throw ReferenceToolMissing(name: "prometheus (apt-get install prometheus)") }
        let table = try XCTUnwrap(GoFunctionTable.find(in: ELFFile(source: FileByteSource(path: prometheus))))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: prometheus)
        process.arguments = ["--storage.tsdb.path=\(scratch.path)/data", "--web.listen-address=127.0.0.1:0", "--config.file=/dev/null"]
        process.environment = ["GOTRACEBACK": "system", "PATH": "/usr/bin:/bin"]
        let stderr = Pipe()
        process.standardError = stderr
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        Thread.sleep(forTimeInterval: 3)
        kill(process.processIdentifier, SIGQUIT)
        let text = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let signalPC = lines.first { $0.hasPrefix("PC=0x") }.flatMap { UInt64($0.dropFirst(5).prefix { $0 != " " }, radix: 16) }
        var pending: [String] = [], frames = 0, inlined = 0, differing: [String] = []
        var i = 0
        while i + 1 < lines.count {
            defer { i += 1 }
            if lines[i].hasPrefix("goroutine ") { pending = []; continue }
            guard lines[i + 1].hasPrefix("\t"), !lines[i].hasPrefix("\t"), let paren = lines[i].lastIndex(of: "(") else { continue }
            let location = lines[i + 1].dropFirst().split(separator: " ")
            pending.append("\(lines[i][..<paren]) \(location[0])")
            i += 1
            guard let field = location.first(where: { $0.hasPrefix("pc=0x") }), let pc = UInt64(field.dropFirst(5), radix: 16) else { continue }
            let ours = table.frames(at: pc == signalPC ? pc : pc - 1).map { "\($0.function) \($0.file):\($0.line)" }
            frames += 1
            if pending.count > 1 { inlined += 1 }
            if ours != pending { differing.append("pc=0x\(String(pc, radix: 16)): ours \(ours), runtime \(pending)") }
            pending = []
        }
        print("prometheus traceback: \(frames) frames, \(inlined) with inlined calls, \(differing.count) differ")
        XCTAssertGreaterThan(frames, 100, "too short a traceback:\n\(text.prefix(2000))")
        XCTAssertGreaterThan(inlined, 2, "too few frames with inlined calls to judge")
        XCTAssertEqual(differing.count, 0, differing.prefix(20).joined(separator: "\n"))
    }
}
