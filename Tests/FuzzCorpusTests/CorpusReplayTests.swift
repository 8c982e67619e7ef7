import FuzzTargets
import Foundation
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
}
