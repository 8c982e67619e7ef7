import Foundation
import Symbolizer
import TestSupport
import XCTest

/// JIT perf maps: the line format as Node, the JVM and CPython write it, the
/// file as a process in a container holds it, and files that must cost nothing.
final class PerfMapTableTests: XCTestCase {
    func table(_ text: String) -> PerfMapTable {
        var table = PerfMapTable()
        table.append(parsing: Array(text.utf8)[...])
        return table
    }

    func testNodeJVMAndCPythonLines() {
        var map = table("""
            7f4ba0024a80 378 JS:~hotLoop /tmp/nodejit/chain.js:1:17
            0x7f00001000 0x40 Interpreter
            7F0000200 10 Ljava/lang/String;::hashCode
            7f0000300 8 py::hot_loop:/srv/app.py

            """)
        XCTAssertEqual(map.count, 4)
        XCTAssertEqual(map.malformedLines, 0)
        XCTAssertEqual(map.name(at: 0x7f4ba0024a80), "JS:~hotLoop /tmp/nodejit/chain.js:1:17")
        XCTAssertEqual(map.name(at: 0x7f4ba0024a80 + 0x377), "JS:~hotLoop /tmp/nodejit/chain.js:1:17")
        XCTAssertNil(map.name(at: 0x7f4ba0024a80 + 0x378), "the end is exclusive")
        XCTAssertNil(map.name(at: 0x7f4ba0024a7f))
        XCTAssertEqual(map.name(at: 0x7f0000103f), "Interpreter")
        XCTAssertEqual(map.name(at: 0x7f000020f), "Ljava/lang/String;::hashCode")
        XCTAssertEqual(map.name(at: 0x7f0000300), "py::hot_loop:/srv/app.py")
    }

    func testMalformedLinesAreSkippedAndCounted() {
        var map = table("""
            zz 10 not hex
            1000 10
            1000 0 zero size
            ffffffffffffffff 10 wraps
            11112222333344445 10 seventeen digits
            1000\t10 tab
            2000 10 good\r
            \(String(repeating: "x", count: 5000))
            3000 10 \(String(repeating: "n", count: 2000))

            """)
        XCTAssertEqual(map.malformedLines, 7)
        XCTAssertEqual(map.count, 2)
        XCTAssertEqual(map.name(at: 0x2008), "good")
        XCTAssertEqual(map.name(at: 0x3000)?.utf8.count, PerfMapTable.maximumNameBytes)
        XCTAssertNil(map.name(at: 0x1000))
    }

    func testOnlyWholeLinesAreConsumed() {
        var map = PerfMapTable()
        let bytes = Array("1000 10 first\n2000 10 sec".utf8)
        XCTAssertEqual(map.append(parsing: bytes[...]), 14)
        XCTAssertEqual(map.count, 1)
        XCTAssertEqual(map.append(parsing: Array("2000 10 second\n".utf8)[...]), 15)
        XCTAssertEqual(map.name(at: 0x2001), "second")
    }

    func testTheEntryWrittenLastWinsWhereCodeWasReused() {
        var map = table("""
            1000 100 old long
            1040 10 old short
            1000 100 new long

            """)
        XCTAssertEqual(map.name(at: 0x1044), "new long", "a later entry covering the address wins over an earlier, closer one")
        map.append(parsing: Array("1040 10 newest short\n".utf8)[...])
        XCTAssertEqual(map.name(at: 0x1044), "newest short")
        XCTAssertEqual(map.name(at: 0x1080), "new long")
    }

    func testLimitStopsAddingEntries() {
        var map = PerfMapTable()
        let text = (0..<100).map { "\(String($0 * 16 + 0x1000, radix: 16)) 10 f\($0)\n" }.joined()
        map.append(parsing: Array(text.utf8)[...], limit: 10)
        XCTAssertEqual(map.count, 10)
        XCTAssertEqual(map.name(at: 0x1000), "f0")
        XCTAssertNil(map.name(at: 0x1000 + 50 * 16))
    }
}

/// `PerfMaps` over a stand-in /proc: the map is found by the process's own pid
/// (NSpid), inside its root, tailed as it grows, re-read when replaced; files
/// that are not a plain map of the process's user are never read.
final class PerfMapFilesTests: XCTestCase {
    var proc: URL!
    var outside: URL!
    let pid: Int32 = 4242
    let namespacePID = 7
    var mapURL: URL { proc.appendingPathComponent("\(pid)/root/tmp/perf-\(namespacePID).map") }

    override func setUpWithError() throws {
        proc = TestEnvironment.temporaryDirectory()
        outside = TestEnvironment.temporaryDirectory()
        try FileManager.default.createDirectory(at: proc.appendingPathComponent("\(pid)/root/tmp"), withIntermediateDirectories: true)
        try status(uid: getuid())
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: proc)
        try? FileManager.default.removeItem(at: outside)
    }

    func status(uid: uid_t) throws {
        try "Name:\tnode\nUid:\t\(uid)\t\(uid)\t\(uid)\t\(uid)\nNSpid:\t\(pid)\t\(namespacePID)\n"
            .write(to: proc.appendingPathComponent("\(pid)/status"), atomically: true, encoding: .utf8)
    }

    func maps(_ configure: (inout (check: Double, limit: UInt64, chunk: Int)) -> Void = { _ in }) -> PerfMaps {
        var options = (check: 0.0, limit: PerfMaps.defaultMaximumFileBytes, chunk: 16 << 20)
        configure(&options)
        return PerfMaps(procRoot: proc.path, checkInterval: options.check, maximumFileBytes: options.limit, readChunkBytes: options.chunk)
    }

    func append(_ text: String) throws {
        if !FileManager.default.fileExists(atPath: mapURL.path) { _ = FileManager.default.createFile(atPath: mapURL.path, contents: nil) }
        let handle = try FileHandle(forWritingTo: mapURL)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(text.utf8))
        try handle.close()
    }

    func testFoundByTheNamespacePIDAndTailedAsItGrows() throws {
        let perfMaps = maps()
        XCTAssertNil(perfMaps.name(pid: pid, address: 0x1000), "no map yet")
        try append("1000 10 first\n2000 10 sec")
        XCTAssertEqual(perfMaps.name(pid: pid, address: 0x1004), "first")
        XCTAssertNil(perfMaps.name(pid: pid, address: 0x2004), "a line still being written is not read")
        try append("ond\n3000 10 third\n")
        XCTAssertEqual(perfMaps.name(pid: pid, address: 0x2004), "second")
        XCTAssertEqual(perfMaps.name(pid: pid, address: 0x3004), "third")
        XCTAssertEqual(perfMaps.path(pid: pid), "/tmp/perf-7.map")
        let statistics = perfMaps.statistics
        XCTAssertEqual(statistics.files, 1)
        XCTAssertEqual(statistics.entries, 3)
        XCTAssertEqual(statistics.named, 3)
        XCTAssertEqual(statistics.refused, 0)
    }

    func testLookedAtAgainOnlyAfterTheCheckInterval() throws {
        let perfMaps = maps { $0.check = 3600 }
        try append("1000 10 first\n")
        XCTAssertEqual(perfMaps.name(pid: pid, address: 0x1000), "first")
        try append("2000 10 second\n")
        XCTAssertNil(perfMaps.name(pid: pid, address: 0x2000), "read again within the interval")
    }

    func testReplacedOrTruncatedMapIsReadAfresh() throws {
        let perfMaps = maps()
        try append("1000 10 old\n2000 10 old two\n")
        XCTAssertEqual(perfMaps.name(pid: pid, address: 0x1000), "old")
        // A restarted JIT in a reused pid namespace: a new, shorter file.
        try FileManager.default.removeItem(at: mapURL)
        try append("1000 10 new\n")
        XCTAssertEqual(perfMaps.name(pid: pid, address: 0x1000), "new")
        XCTAssertNil(perfMaps.name(pid: pid, address: 0x2000))
        XCTAssertEqual(perfMaps.statistics.entries, 1)
    }

    func testAMapRewrittenInPlaceIsReadAfresh() throws {
        // What `jcmd PID Compiler.perfmap` does when run again: the same file, truncated and
        // written anew, now longer than what was read.
        let perfMaps = maps()
        try append("1000 10 void Old.run()\n")
        XCTAssertEqual(perfMaps.name(pid: pid, address: 0x1000), "void Old.run()")
        let handle = try FileHandle(forWritingTo: mapURL)
        try handle.truncate(atOffset: 0)
        try handle.write(contentsOf: Data("1000 20 void New.call(int)\n2000 10 void New.run()\n".utf8))
        try handle.close()
        XCTAssertEqual(perfMaps.name(pid: pid, address: 0x1000), "void New.call(int)")
        XCTAssertEqual(perfMaps.name(pid: pid, address: 0x2000), "void New.run()")
        XCTAssertEqual(perfMaps.statistics.entries, 2)
    }

    func testASymlinkOutOfTheRootIsNotFollowed() throws {
        let elsewhere = outside.appendingPathComponent("tmp/perf-7.map")
        try FileManager.default.createDirectory(at: elsewhere.deletingLastPathComponent(), withIntermediateDirectories: true)
        try "1000 10 host secret\n".write(to: elsewhere, atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: mapURL.path, withDestinationPath: elsewhere.path)
        XCTAssertNil(maps().name(pid: pid, address: 0x1000))
        // The same absolute target resolves inside the root, where it is the process's own file.
        try FileManager.default.removeItem(at: mapURL)
        try FileManager.default.createSymbolicLink(atPath: mapURL.path, withDestinationPath: "/tmp/real.map")
        try "1000 10 inside\n".write(to: proc.appendingPathComponent("\(pid)/root/tmp/real.map"), atomically: true, encoding: .utf8)
        XCTAssertEqual(maps().name(pid: pid, address: 0x1000), "inside")
    }

    func testAFIFOIsRefusedWithoutBlocking() throws {
        XCTAssertEqual(mkfifo(mapURL.path, 0o644), 0, String(cString: strerror(errno)))
        let perfMaps = maps()
        let done = expectation(description: "lookup returned")
        let pid = self.pid
        DispatchQueue.global().async {
            XCTAssertNil(perfMaps.name(pid: pid, address: 0x1000))
            done.fulfill()
        }
        wait(for: [done], timeout: 5)
        XCTAssertEqual(perfMaps.statistics.refused, 1)
        XCTAssertEqual(perfMaps.statistics.files, 0)
    }

    func testAMapOfAnotherUserIsRefused() throws {
        try append("1000 10 planted\n")
        XCTAssertEqual(chown(mapURL.path, 12345, 12345), 0, "tests run as root: \(String(cString: strerror(errno)))")
        let perfMaps = maps()
        XCTAssertNil(perfMaps.name(pid: pid, address: 0x1000))
        XCTAssertEqual(perfMaps.statistics.refused, 1)
        // The process's own user (here 12345) may own it.
        try status(uid: 12345)
        XCTAssertEqual(maps().name(pid: pid, address: 0x1000), "planted")
    }

    func testAHugeOrBinaryFileIsCutAtTheLimit() throws {
        // 1 KiB of lines, then garbage with no newline: read up to the limit, then nothing more.
        let lines = (0..<32).map { "\(String(0x1000 + $0 * 0x10, radix: 16)) 10 f\($0)\n" }.joined()
        try append(lines)
        let handle = try FileHandle(forWritingTo: mapURL)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(repeating: 0x41, count: 64 << 10))
        try handle.close()
        let perfMaps = maps { $0.limit = 16 << 10; $0.chunk = 4 << 10 }
        for _ in 0..<8 { _ = perfMaps.name(pid: pid, address: 0x1000) }
        XCTAssertEqual(perfMaps.name(pid: pid, address: 0x1000 + 31 * 0x10), "f31")
        XCTAssertEqual(perfMaps.statistics.entries, 32)
        XCTAssertEqual(perfMaps.statistics.refused, 1, "cut once, counted once")
    }

    func testAProcessWithoutStatusOrMapCostsNothing() {
        let perfMaps = maps()
        XCTAssertNil(perfMaps.name(pid: 999_999, address: 0x1000))
        var expected = PerfMaps.Statistics()
        expected.files = 0
        XCTAssertEqual(perfMaps.statistics, expected)
        XCTAssertNil(perfMaps.name(pid: pid, address: 0x1000), "a process with a status but no map")
        XCTAssertEqual(perfMaps.statistics, expected)
    }

    func testARewriteIsNoticedAfterALookThatEndedInTheMiddleOfALine() throws {
        let perfMaps = maps()
        try append("1000 10 first\n2000 10 sec")
        XCTAssertEqual(perfMaps.name(pid: pid, address: 0x1000), "first")
        XCTAssertNil(perfMaps.name(pid: pid, address: 0x2000), "nothing new: still mid-line")
        // Rewritten in place, as long as before and more: what was read first is no longer there.
        let handle = try FileHandle(forWritingTo: mapURL)
        try handle.truncate(atOffset: 0)
        try handle.write(contentsOf: Data("1000 10 other\n2000 10 second\n".utf8))
        try handle.close()
        XCTAssertEqual(perfMaps.name(pid: pid, address: 0x1000), "other")
        XCTAssertEqual(perfMaps.name(pid: pid, address: 0x2000), "second")
    }

    func testAReusedPIDDropsTheOldProcesssMap() throws {
        let stat = proc.appendingPathComponent("\(pid)/stat")
        func started(_ ticks: Int) throws {
            try "\(pid) (no de) S 1 1 1 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 \(ticks) 1000 10\n".write(to: stat, atomically: true, encoding: .utf8)
        }
        try started(100)
        let perfMaps = maps()
        try append("1000 10 old process\n")
        XCTAssertEqual(perfMaps.name(pid: pid, address: 0x1000), "old process")
        try FileManager.default.removeItem(at: mapURL)
        XCTAssertEqual(perfMaps.name(pid: pid, address: 0x1000), "old process", "kept while the pid is the same process (it may have just exited)")
        try started(900)
        XCTAssertNil(perfMaps.name(pid: pid, address: 0x1000), "a new process under the same pid has none of its names")
    }
}
