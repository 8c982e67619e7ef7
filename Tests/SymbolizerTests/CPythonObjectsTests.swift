import Foundation
@testable import Symbolizer
import XCTest

/// CPython objects read out of process memory, on objects laid out by hand in
/// this test's own memory (read back through /proc/self/mem like another process's).
final class CPythonObjectsTests: XCTestCase {
    let layout = CPythonLayout.of(major: 3, minor: 11)!

    /// A compact str of `kind` bytes per character holding `text` (as PyASCIIObject / PyCompactUnicodeObject in 3.11).
    func stringObject(_ scalars: [UInt32], kind: Int, ascii: Bool, compact: Bool = true, length: UInt64? = nil) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Int(ascii ? layout.asciiData : layout.compactData))
        func put(_ value: UInt64, at offset: Int, size: Int) { for i in 0..<size { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) } }
        put(length ?? UInt64(scalars.count), at: 16, size: 8)
        put(UInt64(kind << 2 | (compact ? 1 << 5 : 0) | (ascii ? 1 << 6 : 0)), at: 32, size: 4)
        for scalar in scalars {
            for i in 0..<kind { bytes.append(UInt8(truncatingIfNeeded: scalar >> (8 * i))) }
        }
        return bytes + [0, 0, 0, 0]
    }

    func read(_ object: [UInt8]) throws -> String? {
        let memory = try XCTUnwrap(ProcessMemory(pid: getpid()))
        return object.withUnsafeBufferPointer { buffer in
            CPythonObjects.string(at: UInt64(UInt(bitPattern: buffer.baseAddress)), layout: layout, memory: memory)
        }
    }

    func testCompactStringsOfEveryKind() throws {
        XCTAssertEqual(try read(stringObject(Array("handle_request".unicodeScalars.map(\.value)), kind: 1, ascii: true)), "handle_request")
        XCTAssertEqual(try read(stringObject([0x63, 0x61, 0x66, 0xe9], kind: 1, ascii: false)), "café")
        XCTAssertEqual(try read(stringObject([0x6c17, 0x8c61], kind: 2, ascii: false)), "気象")
        XCTAssertEqual(try read(stringObject([0x1f40d], kind: 4, ascii: false)), "🐍")
    }

    func testOtherObjectsAreNotNamed() throws {
        XCTAssertNil(try read(stringObject([0x61], kind: 1, ascii: true, compact: false)), "a legacy (non-compact) string")
        XCTAssertNil(try read(stringObject([0x61], kind: 3, ascii: false)), "no such kind")
        XCTAssertNil(try read(stringObject([0x61], kind: 1, ascii: true, length: 1 << 40)), "a length past the bound")
        let memory = try XCTUnwrap(ProcessMemory(pid: getpid()))
        XCTAssertNil(CPythonObjects.string(at: 0, layout: layout, memory: memory))
        XCTAssertNil(CPythonObjects.string(at: 0x10, layout: layout, memory: memory), "an unmapped address")
        XCTAssertNil(memory.read(1 << 47 - 4, count: 8), "past user space")
        XCTAssertNil(memory.read(0x1000, count: ProcessMemory.maximumRead + 1), "a read past the bound")
    }

    func testTheFingerprintFoldsTheWordLikeBPF() {
        XCTAssertEqual(CPythonObjects.fingerprint(ofWord: 0x0000_0011_0000_0022), 0x33)
        XCTAssertEqual(CPythonObjects.fingerprint(ofWord: 0xffff_ffff_ffff_ffff), 0)
    }
}
