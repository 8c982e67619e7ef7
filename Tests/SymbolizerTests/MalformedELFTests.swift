import Foundation
import Symbolizer
import TestSupport
import XCTest

/// Truncated and corrupted images must throw ELFError (or parse), never trap.
final class MalformedELFTests: XCTestCase {
    func fixtureBytes(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: TestEnvironment.fixture(name))))
    }

    /// Parses and symbolises an image; returns the error, if any.
    @discardableResult
    func exercise(_ bytes: [UInt8]) -> ELFError? {
        do {
            let elf = try ELFFile(source: MemoryByteSource(bytes))
            let table = try elf.functionSymbols()
            for address in stride(from: UInt64(0), to: 0x4000, by: 0x11) { _ = table.lookup(address) }
            _ = elf.virtualAddress(forFileOffset: 0x1000)
            return nil
        } catch {
            return error
        }
    }

    func testEveryTruncationThrowsOrParses() throws {
        let bytes = try fixtureBytes("symbols_pie")
        var failures = 0
        for length in stride(from: 0, to: bytes.count, by: 7) {
            if exercise(Array(bytes.prefix(length))) != nil { failures += 1 }
        }
        XCTAssertGreaterThan(failures, 0)
        XCTAssertEqual(exercise(Array(bytes.prefix(10))), .truncated("the 10-byte image is shorter than an ELF header"))
        if case .truncated = exercise(Array(bytes.prefix(bytes.count - 200))) {} else {
            XCTFail("an image cut inside its section headers must report truncation")
        }
    }

    func testRandomCorruptionNeverTraps() throws {
        let original = try fixtureBytes("libfixture.so")
        var generator = SplitMix64(seed: 42)
        for _ in 0..<3000 {
            var bytes = original
            for _ in 0..<Int(generator.next() % 8 + 1) {
                // Aim at the headers and tables, where offsets and sizes live.
                let region = generator.next() % 3 == 0 ? bytes.count : min(bytes.count, 256)
                let at = Int(generator.next() % UInt64(region))
                bytes[at] = UInt8(truncatingIfNeeded: generator.next())
            }
            exercise(bytes)
        }
        // Header tables pointing far outside the image.
        var huge = original
        for i in 40..<48 { huge[i] = 0xff }  // e_shoff
        XCTAssertNotNil(exercise(huge))
    }

    func testNotELFAndUnsupportedClasses() throws {
        XCTAssertEqual(exercise(Array("#!/bin/sh\necho hello\n".utf8) + [UInt8](repeating: 0, count: 64)), .notELF)
        var elf32 = try fixtureBytes("symbols_pie")
        elf32[4] = 1
        XCTAssertEqual(exercise(elf32), .unsupported("32-bit ELF (class 1)"))
        var bigEndian = try fixtureBytes("symbols_pie")
        bigEndian[5] = 2
        XCTAssertEqual(exercise(bigEndian), .unsupported("big-endian ELF"))
    }

    func testUnreadableFileIsAnErrorNotACrash() {
        XCTAssertThrowsError(try FileByteSource(path: "/nonexistent/binary"))
        XCTAssertThrowsError(try FileByteSource(path: "/proc"))  // a directory
        if case .failure(let error) = BinaryCache().load(path: "/nonexistent/binary") {
            XCTAssertTrue(error.description.contains("/nonexistent/binary"), error.description)
        } else {
            XCTFail("loading a missing file must fail")
        }
    }
}
