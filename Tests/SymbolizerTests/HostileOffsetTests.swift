import Foundation
import Symbolizer
import TestSupport
import XCTest

/// Uprobe offsets come from untrusted libraries (any container's libc or libssl):
/// they must lie inside the file, or be absent.
final class HostileOffsetTests: XCTestCase {
    let library = TestEnvironment.fixture("libfixture.so")

    func testOffsetsOfARealLibraryAreInsideIt() throws {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: library)))
        let elf = try ELFFile(source: MemoryByteSource(bytes))
        let offsets = try elf.functionFileOffsets(["fixture_lib_alpha", "fixture_lib_beta"])
        XCTAssertEqual(offsets.count, 2, "both functions are found")
        let nm = try ReferenceTools.nmFunctions(library)
        // libfixture's text segment has file offset == virtual address: the offsets are nm's addresses.
        XCTAssertEqual(offsets["fixture_lib_alpha"], nm.first { $0.name == "fixture_lib_alpha" }?.address)
    }

    func testOffsetsOutsideTheFileAreRejected() throws {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: library)))
        for delta: UInt64 in [1 << 63, UInt64(bytes.count), 1 << 40] {
            let hostile = CraftedELF.shiftingLoadOffsets(of: bytes, by: delta)
            let elf = try ELFFile(source: MemoryByteSource(hostile))
            XCTAssertEqual(try elf.functionFileOffsets(["fixture_lib_alpha", "fixture_lib_beta"]), [:],
                           "segments shifted by \(delta) put every function outside the \(bytes.count)-byte file")
            let address = try XCTUnwrap(elf.segments.first).virtualAddress + 0x10
            XCTAssertNil(elf.fileOffset(forVirtualAddress: address))
        }
    }
}
