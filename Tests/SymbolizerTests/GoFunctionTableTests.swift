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
}
