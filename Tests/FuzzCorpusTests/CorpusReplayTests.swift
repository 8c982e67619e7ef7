import FuzzTargets
import Foundation
import Symbolizer
import XCTest

/// Replays the committed fuzz corpus (seeds, and every input that once crashed
/// a target) through the same functions `make fuzz` runs under libFuzzer.
final class CorpusReplayTests: XCTestCase {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Corpus")

    func testEveryTargetReplaysItsCorpus() throws {
        for target in FuzzTarget.allCases {
            let directory = Self.corpus.appendingPathComponent(target.rawValue)
            let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { !$0.hasPrefix(".") }.sorted()
            XCTAssertGreaterThanOrEqual(names.count, 3, "Tests/Corpus/\(target.rawValue) should hold seeds")
            for name in names {
                let input = try [UInt8](Data(contentsOf: directory.appendingPathComponent(name)))
                target.run(input)  // traps (fails the run) on a crash or a broken property
            }
        }
    }

    /// The seeds must reach the parsers' interesting paths, or fuzzing starts blind.
    func testSeedsAreWellFormedInputs() throws {
        let elfSeeds = try FileManager.default.contentsOfDirectory(atPath: Self.corpus.appendingPathComponent("elf").path)
            .filter { $0.hasPrefix("seed-") }
        XCTAssertFalse(elfSeeds.isEmpty)
        for name in elfSeeds {
            let bytes = try [UInt8](Data(contentsOf: Self.corpus.appendingPathComponent("elf/\(name)")))
            XCTAssertEqual(Array(bytes.prefix(4)), [0x7f, 0x45, 0x4c, 0x46], "\(name) is not an ELF file")
        }
    }

    /// The unwind seeds hold real FDEs (as raw sections or in an ELF file), so the fuzzer starts inside the interpreter.
    func testUnwindSeedsHoldFDEs() throws {
        let directory = Self.corpus.appendingPathComponent("unwind")
        let seeds = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasPrefix("seed-") }
        XCTAssertGreaterThanOrEqual(seeds.count, 4)
        for name in seeds {
            let bytes = try [UInt8](Data(contentsOf: directory.appendingPathComponent(name)))
            XCTAssertLessThanOrEqual(bytes.count, 64 << 10, "\(name) is larger than 64 KiB")
            let fdes: Int
            if let elf = try? ELFFile(source: MemoryByteSource(bytes)) {
                fdes = try UnwindTable(elf: elf).statistics.fdes
            } else {
                let body = Array(bytes.dropFirst())
                let table = bytes.first == 1 ? UnwindTable(ehFrame: [], ehFrameAddress: 0, debugFrame: body)
                                             : UnwindTable(ehFrame: body, ehFrameAddress: 0x40_0000)
                fdes = table.statistics.fdes
            }
            XCTAssertGreaterThan(fdes, 3, "\(name) has no FDEs the table accepts")
        }
    }
}
