import Foundation
import Symbolizer
import TestSupport
import XCTest

final class ProcessMapsTests: XCTestCase {
    let sample = """
        55d4a7a00000-55d4a7a01000 r--p 00000000 fd:01 1234                       /usr/bin/my tool
        55d4a7a01000-55d4a7a21000 r-xp 00001000 fd:01 1234                       /usr/bin/my tool
        7f0000000000-7f0000100000 r-xp 00002000 08:02 99                         /opt/lib/libx.so (deleted)
        7f0000200000-7f0000201000 rwxp 00000000 00:00 0 
        7fff00000000-7fff00002000 r-xp 00000000 00:00 0                          [vdso]
        garbage line
        7ffe-7ffd r-xp 00000000 00:00 0
        """

    func testParsesExecutableMappings() {
        let maps = ProcessMaps(parsing: Array(sample.utf8))
        XCTAssertEqual(maps.mappings.count, 4)
        let tool = maps.mappings[0]
        XCTAssertEqual(tool.start, 0x55d4a7a01000)
        XCTAssertEqual(tool.end, 0x55d4a7a21000)
        XCTAssertEqual(tool.offset, 0x1000)
        XCTAssertEqual(tool.path, "/usr/bin/my tool")
        XCTAssertEqual(tool.device, "fd:01")
        XCTAssertEqual(tool.inode, 1234)
        XCTAssertTrue(tool.isFile)
        XCTAssertEqual(tool.fileOffset(of: 0x55d4a7a01010), 0x1010)

        let deleted = maps.mappings[1]
        XCTAssertTrue(deleted.isDeleted)
        XCTAssertEqual(deleted.path, "/opt/lib/libx.so")

        XCTAssertEqual(maps.mappings[2].path, "")
        XCTAssertFalse(maps.mappings[2].isFile)
        XCTAssertEqual(maps.mappings[3].path, "[vdso]")

        XCTAssertEqual(maps.mapping(containing: 0x7f0000000010)?.path, "/opt/lib/libx.so")
        XCTAssertNil(maps.mapping(containing: 0x7f0000100000))
        XCTAssertNil(maps.mapping(containing: 0x1000))
    }

    func testReadsOwnMapsAndReportsMissingProcess() throws {
        let own = try ProcessMaps.read(pid: getpid())
        XCTAssertTrue(own.mappings.contains { $0.path.hasSuffix("xctest") || $0.path.contains("PackageTests") })
        XCTAssertThrowsError(try ProcessMaps.read(pid: Int32.max))
    }
}

final class KallsymsTableTests: XCTestCase {
    func testParsesTextSymbolsOnly() {
        let text = """
            ffffffff81000000 T _stext
            ffffffff81000100 t helper_one
            ffffffff81000200 D some_data
            ffffffff81000300 W weak_fn
            ffffffffc0001000 t mod_fn\t[some_module]
            0000000000000000 T zero_address
            bogus
            """
        let table = KallsymsTable(contents: Array(text.utf8))
        XCTAssertEqual(table.symbols.count, 4)
        XCTAssertEqual(table.lookup(0xffffffff81000000), "_stext")
        XCTAssertEqual(table.lookup(0xffffffff81000150), "helper_one")
        XCTAssertEqual(table.lookup(0xffffffff81000250), "helper_one")  // data symbols are skipped
        XCTAssertEqual(table.lookup(0xffffffff81000301), "weak_fn")
        XCTAssertEqual(table.lookup(0xffffffffc0001004), "mod_fn")
        XCTAssertNil(table.lookup(0xffffffff80000000))
    }

    func testRealKallsymsResolvesKnownFunctions() throws {
        let table = try KallsymsTable.load()
        XCTAssertGreaterThan(table.symbols.count, 10_000)
        // Cross-check a few real entries of /proc/kallsyms.
        let text = String(decoding: try XCTUnwrap(readWholeFile("/proc/kallsyms")), as: UTF8.self)
        var checked = 0
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count == 3, fields[1] == "T", ["vfs_read", "schedule", "do_sys_poll", "ksys_read"].contains(fields[2]),
                  let address = UInt64(fields[0], radix: 16) else { continue }
            XCTAssertEqual(table.lookup(address + 1), String(fields[2]))
            checked += 1
        }
        XCTAssertGreaterThanOrEqual(checked, 2)
    }
}

final class DemanglerTests: XCTestCase {
    func testItanium() {
        XCTAssertEqual(Demangler.demangle("_ZN7fixture4deep6Widget5resetEv"), "fixture::deep::Widget::reset()")
        XCTAssertEqual(Demangler.demangle("_ZNSt6vectorIiSaIiEE9push_backERKi"), "std::vector<int, std::allocator<int> >::push_back(int const&)")
        XCTAssertEqual(Demangler.demangle("_Z_not_valid"), "_Z_not_valid")
    }

    func testSwift() {
        XCTAssertEqual(Demangler.demangle("$s4main5helloyyF", swift: .full), "main.hello() -> ()")
        XCTAssertEqual(Demangler.demangle("$s10Symbolizer9DemanglerO8demangleyS2SFZ", swift: .full), "static Symbolizer.Demangler.demangle(Swift.String) -> Swift.String")
        // The default is the short form `swift demangle --simplified` prints.
        XCTAssertEqual(Demangler.demangle("$s4main5helloyyF"), "hello()")
        XCTAssertEqual(Demangler.demangle("$s10Symbolizer9DemanglerO8demangleyS2SFZ"), "static Demangler.demangle(_:)")
        XCTAssertTrue(Demangler.isSwiftMangled("_$s4main5helloyyF"))
    }

    func testPlainCNamesAreUnchanged() {
        XCTAssertEqual(Demangler.demangle("main"), "main")
        XCTAssertEqual(Demangler.demangle("__libc_start_main"), "__libc_start_main")
    }
}
