import Foundation
import TestSupport
import XCTest

/// `profiler-agent symbolize`: same answers as llvm-symbolizer, clean errors on bad ELF files.
final class SymbolizeCommandTests: AgentTestCase {
    func testAgreesWithLLVMSymbolizerFromArgumentsAndStdin() throws {
        let path = TestEnvironment.fixture("cpp_names")
        let addresses = ReferenceTools.probeAddresses(try ReferenceTools.nmFunctions(path)) + [0, 0xffff_ffff]
        let expected = try ReferenceTools.llvmSymbolizer(path, addresses)
        XCTAssertEqual(expected[expected.count - 2], "??")  // address 0: no symbol

        let hex = addresses.map { "0x" + String($0, radix: 16) }
        let fromArguments = try agent(["symbolize", "--elf", path] + hex)
        XCTAssertEqual(fromArguments.status, 0, fromArguments.stderr)
        XCTAssertEqual(fromArguments.output.split(separator: "\n").map(String.init), expected)

        let fromStdin = try agent(["symbolize", "--elf", path], input: Data(hex.joined(separator: "\n").utf8))
        XCTAssertEqual(fromStdin.status, 0, fromStdin.stderr)
        XCTAssertEqual(fromStdin.output.split(separator: "\n").map(String.init), expected)
    }

    func testTruncatedAndCorruptedFilesFailWithOneLine() throws {
        let original = try Data(contentsOf: URL(fileURLWithPath: TestEnvironment.fixture("symbols_pie")))
        var cases: [(String, Data)] = [
            ("empty", Data()),
            ("header-only", original.prefix(40)),
            ("cut", original.prefix(original.count - 100)),
            ("text", Data("hello, not an ELF file\n".utf8)),
        ]
        var badOffsets = original
        badOffsets.replaceSubrange(40..<48, with: [UInt8](repeating: 0xff, count: 8))  // e_shoff
        cases.append(("bad-section-offset", badOffsets))
        var badCount = original
        badCount.replaceSubrange(60..<62, with: [0xff, 0xff])  // e_shnum
        cases.append(("bad-section-count", badCount))

        for (name, bytes) in cases {
            let file = scratch.appendingPathComponent(name)
            try bytes.write(to: file)
            let result = try agent(["symbolize", "--elf", file.path, "0x1000"])
            XCTAssertEqual(result.status, 1, "\(name): \(result.stderr)")
            XCTAssertTrue(result.stderr.hasPrefix("profiler-agent: error: \(file.path): "), "\(name): \(result.stderr)")
            XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, "\(name): \(result.stderr)")
        }
        let missing = try agent(["symbolize", "--elf", "/nonexistent", "0x1"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("cannot open /nonexistent"), missing.stderr)
    }
}
