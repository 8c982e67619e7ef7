import Foundation
import Symbolizer
import TestSupport
import XCTest

/// Where the table's call-frame information comes from: section headers, or
/// `PT_GNU_EH_FRAME` when a binary has none.
final class UnwindTableSourcesTests: XCTestCase {
    /// Without section headers (as some stripped or packed binaries ship), .eh_frame is
    /// found through PT_GNU_EH_FRAME → .eh_frame_hdr → eh_frame_ptr: the same table.
    func testTableWithoutSectionHeadersEqualsTableWithThem() throws {
        for path in [TestEnvironment.fixture("unwind_target"), "/usr/bin/python3.11", "/usr/lib/x86_64-linux-gnu/libc.so.6"] {
            guard FileManager.default.fileExists(atPath: path) else {
                if ProcessInfo.processInfo.environment["CI"] == "true" { XCTFail("\(path) is missing") }
                continue
            }
            var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
            let withSections = try UnwindTable(elf: ELFFile(source: MemoryByteSource(bytes)))
            for i in 40..<48 { bytes[i] = 0 }   // e_shoff
            for i in 60..<64 { bytes[i] = 0 }   // e_shnum, e_shstrndx
            let elf = try ELFFile(source: MemoryByteSource(bytes))
            XCTAssertTrue(elf.sections.isEmpty)
            let without = try UnwindTable(elf: elf)
            XCTAssertGreaterThan(withSections.count, 10, path)
            XCTAssertEqual(without.addresses, withSections.addresses, path)
            XCTAssertEqual(without.rows, withSections.rows, path)
            XCTAssertEqual(without.statistics.rejectedFDEs, withSections.statistics.rejectedFDEs, path)
        }
    }

    /// An ELF file without call-frame information gives an empty table, not an error.
    func testFileWithoutCallFrameInformationGivesAnEmptyTable() throws {
        var header = [UInt8](repeating: 0, count: 64)
        header[0...3] = [0x7f, 0x45, 0x4c, 0x46]
        header[4] = 2; header[5] = 1; header[16] = 2; header[18] = 62
        let table = try UnwindTable(elf: ELFFile(source: MemoryByteSource(header)))
        XCTAssertEqual(table.count, 0)
        XCTAssertNil(table.row(for: 0x1000))
    }

    /// python3.11 and libc: what building costs (printed; the benchmarks own the figures).
    func testBuildCostOfPythonAndLibc() throws {
        for path in ["/usr/bin/python3.11", "/usr/lib/x86_64-linux-gnu/libc.so.6"] where FileManager.default.fileExists(atPath: path) {
            let table = try UnwindTable.load(path: path)
            let s = table.statistics
            print("\(path): \(s.fdes) FDEs, \(s.interpretedRows) interpreted rows, \(s.rows) rows, \(s.rules) rules, " +
                  "\(s.tableBytes) table bytes from \(s.sectionBytes) section bytes, built in \(s.buildTime); " +
                  "rejected \(s.rejectedFDEs), unsupported \(s.unsupportedRows)")
            XCTAssertGreaterThan(s.rows, 1000)
            XCTAssertLessThan(s.tableBytes, 16 * s.rows + 64 * s.rules)
        }
    }
}
