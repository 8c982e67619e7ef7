import Foundation
import Symbolizer
import TestSupport
import XCTest

/// Acceptance of issue 12, step 2: our unwind rows agree with binutils'
/// `readelf --debug-dump=frames-interp` (reduced the same way) on every row of
/// a supported kind, for a gcc `-O2 -fomit-frame-pointer` fixture, Debian's libc
/// and Debian's python3.11. Unsupported rows are listed by kind; at them our
/// table must say `invalid`.
final class UnwindTableAgreesWithReadelfTests: XCTestCase {
    static var inCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// A tool or binary the test needs: missing fails in CI, skips elsewhere.
    func required(_ path: String?, _ what: String) throws -> String {
        if let path, FileManager.default.fileExists(atPath: path) { return path }
        if Self.inCI {
            XCTFail("\(what) is missing (CI must have it)")
            throw ReferenceToolMissing(name: what)
        }
        throw XCTSkip("\(what) is missing")
    }

    func testGCCFixtureRowsAgreeWithReadelf() throws {
        let report = try compare(TestEnvironment.fixture("unwind_target"))
        // The fixture is built to have these: a PLT, rsp-based frames, a 32-byte aligned frame.
        XCTAssertGreaterThan(report.agreeing, 20)
        XCTAssertGreaterThan(report.kinds["plt", default: 0], 0, "the fixture's .plt FDE (lazy binding) was not seen")
        XCTAssertGreaterThan(report.kinds["rbp", default: 0] + report.kinds["deref", default: 0], 0,
                             "the fixture's realigned / alloca frames did not produce rbp-based or deref rows")
    }

    func testLibcRowsAgreeWithReadelf() throws {
        let report = try compare("/usr/lib/x86_64-linux-gnu/libc.so.6")
        XCTAssertGreaterThan(report.agreeing, 20_000)
        XCTAssertGreaterThan(report.kinds["signal", default: 0], 0, "__restore_rt's signal frame (CIE \"zRS\") was not seen")
        XCTAssertGreaterThan(report.kinds["stop", default: 0], 0, "no row with an undefined return address (clone3, _start)")
    }

    func testPython311RowsAgreeWithReadelf() throws {
        let report = try compare("/usr/bin/python3.11")
        XCTAssertGreaterThan(report.agreeing, 50_000)
        XCTAssertGreaterThan(report.kinds["plt", default: 0], 0)
    }

    /// Like musl: .eh_frame has only crt's FDEs; the rest comes from the debug file's .debug_frame.
    func testDebugFrameOfSeparateDebugFileAgreesWithReadelf() throws {
        let binary = try required(TestEnvironment.fixture("unwind_target_debug_frame"), "fixture unwind_target_debug_frame (make fixtures)")
        let readelf = try required(TestEnvironment.which("readelf"), "readelf (binutils)")
        let debugDirectory = TestEnvironment.fixture("debug")
        let table = try UnwindTable.load(path: binary, debugFiles: DebugFileLocator(directories: [debugDirectory]))
        let elf = try ELFFile(source: FileByteSource(path: binary))
        let id = elf.buildIDHex
        let debugFile = "\(debugDirectory)/.build-id/\(id.prefix(2))/\(id.dropFirst(2)).debug"
        XCTAssertEqual(table.statistics.notes, [".debug_frame from \(debugFile)"])
        XCTAssertLessThan(table.statistics.ehFrameFDEs, UnwindTable.fewFDEs)
        XCTAssertGreaterThan(table.statistics.debugFrameFDEs, 5)

        // readelf's view: the binary's .eh_frame, then the debug file's .debug_frame where .eh_frame has nothing.
        let eh = try ReadelfFrameTable(path: binary, readelf: readelf).fdes
        let debug = try ReadelfFrameTable(path: debugFile, readelf: readelf, section: ".debug_frame").fdes
        let filling = debug.filter { fde in fde.start != 0 && !eh.contains { $0.start < fde.end && fde.start < $0.end } }
        XCTAssertEqual(table.statistics.debugFrameFDEs, filling.count)
        let report = compareRows(table, eh + filling, name: "unwind_target_debug_frame")
        XCTAssertGreaterThan(report.kinds["rsp", default: 0], 10)
    }

    struct Report {
        var agreeing = 0
        var kinds: [String: Int] = [:]
        var unsupported: [String: Int] = [:]
    }

    func compare(_ path: String, file: StaticString = #filePath, line: UInt = #line) throws -> Report {
        let binary = try required(path, path)
        let readelf = try required(TestEnvironment.which("readelf"), "readelf (binutils)")
        let table = try UnwindTable(elf: ELFFile(source: FileByteSource(path: binary)))
        let reference = try ReadelfFrameTable(path: binary, readelf: readelf)
        XCTAssertEqual(table.statistics.debugFrameFDEs, 0, "readelf's .eh_frame rows are compared: no .debug_frame expected", file: file, line: line)
        XCTAssertEqual(table.statistics.ehFrameFDEs, reference.fdes.count, "FDE count", file: file, line: line)
        return compareRows(table, reference.fdes, name: URL(fileURLWithPath: path).lastPathComponent, file: file, line: line)
    }

    /// Our table against readelf's FDEs, at every address where either changes.
    func compareRows(_ table: UnwindTable, _ fdes: [ReadelfFrameTable.FDE], name: String,
                     file: StaticString = #filePath, line: UInt = #line) -> Report {
        XCTAssertEqual(table.statistics.rejectedFDEs, [:], "rejected FDEs", file: file, line: line)

        // readelf's rows as a table: FDEs in address order, `invalid` after each not followed directly.
        var expected: [(address: UInt64, value: ReadelfFrameTable.Expected)] = []
        let invalid = ReadelfFrameTable.Expected.rule(.init(cfa: .invalid, framePointer: .unchanged))
        for fde in fdes.sorted(by: { $0.start < $1.start }) where fde.start < fde.end {
            while let last = expected.last, last.address >= fde.start { expected.removeLast() }
            expected += fde.rows.filter { $0.address >= fde.start && $0.address < fde.end }.map { ($0.address, $0.expected) }
            expected.append((fde.end, invalid))
        }
        func expectedValue(at address: UInt64) -> ReadelfFrameTable.Expected? {
            var low = 0, high = expected.count
            while low < high {
                let middle = (low + high) / 2
                if expected[middle].address <= address { low = middle + 1 } else { high = middle }
            }
            return low == 0 ? nil : expected[low - 1].value
        }

        // Compare the two piecewise-constant functions at every address where either changes.
        var report = Report()
        var disagreements: [String] = []
        let addresses = Set(expected.map(\.address)).union(table.addresses).sorted()
        for address in addresses {
            let ours = table.row(for: address)
            let theirs = expectedValue(at: address)
            switch theirs {
            case nil:
                if let ours, ours.cfa != .invalid { disagreements.append("0x\(String(address, radix: 16)): ours \(ours), readelf: no FDE") }
            case .unsupported(let kind)?:
                report.unsupported[kind, default: 0] += 1
                if let ours, ours.cfa != .invalid { disagreements.append("0x\(String(address, radix: 16)): ours \(ours), readelf unsupported \(kind)") }
            case .rule(let rule)?:
                let got = ours.map { UnwindTable.Rule(cfa: $0.cfa, framePointer: $0.framePointer) } ?? .init(cfa: .invalid, framePointer: .unchanged)
                if got == rule {
                    report.agreeing += 1
                    report.kinds[Self.kind(rule.cfa), default: 0] += 1
                } else {
                    disagreements.append("0x\(String(address, radix: 16)): ours \(got.cfa) rbp=\(got.framePointer), readelf \(rule.cfa) rbp=\(rule.framePointer)")
                }
            }
        }
        let statistics = table.statistics
        print("""
            \(name): \(report.agreeing) of \(addresses.count) row addresses agree with readelf, \(disagreements.count) disagree; \
            kinds \(report.kinds.sorted { $0.key < $1.key }); unsupported (readelf) \(report.unsupported.sorted { $0.key < $1.key }); \
            ours: \(statistics.fdes) FDEs, \(statistics.rows) rows, \(statistics.rules) rules, \(statistics.tableBytes) bytes, \
            unsupported \(statistics.unsupportedRows.map { "\($0.key)=\($0.value)" }.sorted()), built in \(statistics.buildTime)
            """)
        XCTAssertEqual(disagreements.count, 0, "\(name): first disagreements:\n" + disagreements.prefix(20).joined(separator: "\n"), file: file, line: line)
        return report
    }

    static func kind(_ cfa: CFARule) -> String {
        switch cfa {
        case .rsp: "rsp"
        case .rbp: "rbp"
        case .derefRSP, .derefRBP: "deref"
        case .plt: "plt"
        case .signalFrame: "signal"
        case .undefinedReturnAddress: "stop"
        case .invalid: "invalid"
        }
    }
}
