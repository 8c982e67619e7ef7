import Foundation
import Symbolizer
import TestSupport
import XCTest

/// Kernel symbols follow the kernel: a module loaded later is named without a restart,
/// a failed read is retried, and no address past the kernel's text is named `_etext`.
/// (Real files the agent reads as it reads /proc; the kernel-matrix guests do it with a
/// real module, `dummy`, since this kernel has none.)
final class KernelSymbolsTests: XCTestCase {
    var directory: URL!
    var kallsyms: String { directory.appendingPathComponent("kallsyms").path }
    var modules: String { directory.appendingPathComponent("modules").path }

    override func setUp() { directory = TestEnvironment.temporaryDirectory() }
    override func tearDown() { try? FileManager.default.removeItem(at: directory) }

    static let core = "ffffffff81000000 T _stext\nffffffff81000100 T schedule\nffffffff81000200 t do_idle\nffffffff82000000 T _etext\n"
    static let module = "ffffffffc0010000 t dummy_xmit\t[dummy]\nffffffffc0010080 t dummy_dev_init\t[dummy]\n"

    func testModuleLoadedLaterIsNamedAfterTheModuleListChanges() throws {
        try Self.core.write(toFile: kallsyms, atomically: true, encoding: .utf8)
        try "".write(toFile: modules, atomically: true, encoding: .utf8)
        let symbols = KernelSymbols(kallsymsPath: kallsyms, modulesPath: modules, checkInterval: 200_000_000)
        XCTAssertEqual(symbols.lookup(0xffff_ffff_8100_0150), "schedule")
        XCTAssertNil(symbols.lookup(0xffff_ffff_c001_0010), "an address past _etext is in no known function")
        XCTAssertEqual(symbols.statistics.loads, 1, "a miss right after a read does not read again")

        try (Self.core + Self.module).write(toFile: kallsyms, atomically: true, encoding: .utf8)
        try "dummy 16384 0 - Live 0xffffffffc0010000\n".write(toFile: modules, atomically: true, encoding: .utf8)
        XCTAssertNil(symbols.lookup(0xffff_ffff_c001_0010), "the module list is looked at no more than every 200 ms")
        Thread.sleep(forTimeInterval: 0.25)
        XCTAssertEqual(symbols.lookup(0xffff_ffff_c001_0010), "dummy_xmit")
        XCTAssertEqual(symbols.lookup(0xffff_ffff_c001_0090), "dummy_dev_init")
        XCTAssertEqual(symbols.statistics.loads, 2)
        // Unchanged list: no more reads.
        Thread.sleep(forTimeInterval: 0.25)
        XCTAssertEqual(symbols.lookup(0xffff_ffff_8100_0210), "do_idle")
        XCTAssertEqual(symbols.statistics.loads, 2)
    }

    func testFailedReadIsRetried() throws {
        let symbols = KernelSymbols(kallsymsPath: kallsyms, modulesPath: modules, checkInterval: 100_000_000, retryInterval: 200_000_000)
        XCTAssertNil(symbols.lookup(0xffff_ffff_8100_0150))
        guard case .failure = symbols.table else { return XCTFail("a missing kallsyms must fail") }
        try Self.core.write(toFile: kallsyms, atomically: true, encoding: .utf8)
        Thread.sleep(forTimeInterval: 0.25)
        XCTAssertEqual(symbols.lookup(0xffff_ffff_8100_0150), "schedule")
        XCTAssertEqual(symbols.statistics.failures, 1)
    }
}
