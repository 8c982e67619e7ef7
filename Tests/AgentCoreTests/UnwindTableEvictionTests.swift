@testable import AgentCore
import CBPF
import Foundation
@testable import Symbolizer
import XCTest

/// The table budget, on real BPF maps (as root) and the real libraries of this
/// machine, described through a /proc of the test's making (its `root` is /):
/// when a table does not fit, the least recently sampled files go back to frame
/// pointers, their processes' entries rewritten first.
final class UnwindTableEvictionTests: XCTestCase {
    struct Library { var path: String; var inode: UInt64; var rows: Int }

    /// Shared libraries of similar table size (2k-20k rows), as many as `count`.
    func similarLibraries(_ count: Int) throws -> [Library] {
        let directory = "/usr/lib/x86_64-linux-gnu"
        var found: [Library] = []
        for name in try FileManager.default.contentsOfDirectory(atPath: directory).sorted() where name.contains(".so") {
            let path = "\(directory)/\(name)"
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: path), attributes[.type] as? FileAttributeType == .typeRegular,
                  let source = try? FileByteSource(path: path), let elf = try? ELFFile(source: source),
                  let table = try? UnwindTable(elf: elf), let encoded = UnwindTableEncoding(table),
                  (2000...20000).contains(encoded.rows.count) else { continue }
            found.append(Library(path: path, inode: source.identity.inode, rows: encoded.rows.count))
        }
        // The `count` closest in size: then any 4 of them exceed one quarter of the rows of 6.
        found.sort { $0.rows < $1.rows }
        guard found.count >= count else { throw XCTSkip("this machine has only \(found.count) libraries with 2k-20k rows: \(count) needed") }
        let windows = (0...(found.count - count)).map { Array(found[$0..<($0 + count)]) }
        return windows.min { ($0.last!.rows - $0.first!.rows) < ($1.last!.rows - $1.first!.rows) }!
    }

    /// A /proc with one process per entry of `processes`, each mapping its libraries executable.
    func fakeProc(_ processes: [Int32: [Library]]) throws -> String {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("proc-\(UUID().uuidString)")
        addTeardownBlock { try? FileManager.default.removeItem(at: root) }
        for (pid, libraries) in processes {
            let directory = root.appendingPathComponent(String(pid))
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: directory.appendingPathComponent("root").path, withDestinationPath: "/")
            let lines = libraries.enumerated().map { index, library in
                let start = 0x7f00_0000_0000 + UInt64(pid) * 0x1_0000_0000 + UInt64(index) * 0x1000_0000
                return "\(String(start, radix: 16))-\(String(start + 0x100000, radix: 16)) r-xp 00000000 fe:00 \(library.inode)    \(library.path)"
            }
            try (lines.joined(separator: "\n") + "\n").write(to: directory.appendingPathComponent("maps"), atomically: true, encoding: .utf8)
        }
        return root.path
    }

    /// The kinds (TABLE / FRAME_POINTER) of a described process's mappings, in address order.
    func mappingKinds(_ maps: SharedBPFMaps, _ pid: Int32) -> [UInt32] {
        var key = pid
        var process = unwind_process()
        guard bpf_map_lookup_elem(maps.fd(of: "unwind_processes"), &key, &process) == 0 else { return [] }
        return withUnsafeBytes(of: process.mappings) { raw in
            Array(raw.bindMemory(to: unwind_mapping.self).prefix(Int(process.count)).map(\.kind))
        }
    }

    func testTheLeastRecentlySampledFilesGoBackToFramePointersWhenANewTableDoesNotFit() throws {
        guard getuid() == 0 else { throw XCTSkip("creates BPF maps: run as root (CI does)") }
        let libraries = try similarLibraries(9)
        let (cold, hot, new) = (Array(libraries[0..<4]), Array(libraries[4..<6]), Array(libraries[6..<9]))
        // Room for the cold and hot processes' six tables and not one more of the new one's.
        let rows = (cold + hot).reduce(0) { $0 + $1.rows } + (new.map(\.rows).min() ?? 0) / 2
        XCTAssertGreaterThanOrEqual(rows / 4, libraries.map(\.rows).max() ?? 0, "every table fits in a quarter")
        let maps = try SharedBPFMaps(pids: [], unwindTables: true, tableBytes: rows * 9)
        XCTAssertEqual(maps.capacity(of: "unwind_rows"), UInt32(rows))
        let proc = try fakeProc([101: cold, 102: hot, 103: new])
        let loader = UnwindTableLoader(maps: maps, procRoot: proc)
        let table = UInt32(UNWIND_MAPPING_TABLE.rawValue), framePointers = UInt32(UNWIND_MAPPING_FRAME_POINTER.rawValue)

        XCTAssertNotNil(loader.describe(101))
        XCTAssertNotNil(loader.describe(102))
        XCTAssertEqual(mappingKinds(maps, 101), [UInt32](repeating: table, count: 4))
        XCTAssertEqual(loader.statistics.filesEvicted, 0)
        loader.touch([102])  // the hot process was sampled since; the cold one was not
        XCTAssertNotNil(loader.describe(103))

        let report = "libraries: \(libraries.map { "\($0.path) \($0.rows)" }); statistics: \(loader.statistics)"
        XCTAssertEqual(mappingKinds(maps, 103), [UInt32](repeating: table, count: 3), "the new process has its tables: \(report)")
        XCTAssertEqual(mappingKinds(maps, 102), [table, table], "the recently sampled process keeps its tables: \(report)")
        let coldKinds = mappingKinds(maps, 101)
        XCTAssertEqual(coldKinds.count, 4)
        XCTAssertTrue(coldKinds.contains(framePointers), "the cold process lost a table: \(coldKinds) \(report)")
        XCTAssertEqual(loader.statistics.filesEvicted, coldKinds.filter { $0 == framePointers }.count, report)
        XCTAssertLessThanOrEqual(loader.statistics.rows, rows, report)
        XCTAssertTrue(loader.isOverBudget(101), "the cold process is described again when next sampled")

        // The cold process sampled again: its files come back, at the expense of the now least recent ones.
        loader.touch([101])
        XCTAssertNotNil(loader.describe(101, force: true))
        XCTAssertEqual(mappingKinds(maps, 101), [UInt32](repeating: table, count: 4), report)
        XCTAssertTrue(mappingKinds(maps, 102).contains(framePointers) || mappingKinds(maps, 103).contains(framePointers),
                      "room was made from the others: \(loader.statistics)")
        // Every row in use belongs to a table some process maps.
        loader.forget(101); loader.forget(102); loader.forget(103)
        XCTAssertEqual(loader.statistics.files, 0)
        XCTAssertEqual(loader.statistics.rows, 0)
    }
}
