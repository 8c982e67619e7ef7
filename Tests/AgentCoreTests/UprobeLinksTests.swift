import Foundation
import Symbolizer
import TestSupport
import XCTest

@testable import AgentCore

/// The per-event uprobe path (kernels before 6.6, or PROFILER_AGENT_UPROBES=per-event)
/// converts each offset to libbpf's `size_t`: a hostile library must be refused, not trap.
final class UprobeLinksTests: XCTestCase {
    func testLibraryWhoseOffsetsLieOutsideTheFileIsRefused() throws {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: TestEnvironment.fixture("libfixture.so"))))
        let directory = TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("libssl.so.3").path
        try Data(CraftedELF.shiftingLoadOffsets(of: bytes, by: 1 << 63)).write(to: URL(fileURLWithPath: path))
        let functions = [ProbedFunction(name: "fixture_lib_alpha", cookie: 1), ProbedFunction(name: "fixture_lib_beta", cookie: 2)]
        let file = try FileByteSource(path: path)
        for mode in [UprobeMode.perEvent, .multi] {
            do {
                _ = try UprobeLinks(file: file, functions: functions, entry: nil, exit: nil, mode: mode)
                XCTFail("a library with no function inside the file must be refused (\(mode))")
            } catch {
                XCTAssertTrue(error.reason.hasPrefix("defines none of fixture_lib_alpha"), error.reason)
            }
        }
    }
}
