import Foundation
import Symbolizer
import TestSupport
import XCTest

/// Symbolising addresses of live processes through /proc/PID/maps.
final class ProcessSymbolizationTests: XCTestCase {
    /// Runtime address of `function` in the process, computed independently from maps + nm.
    func runtimeAddress(of function: String, binary: String, pid: Int32) throws -> UInt64 {
        let symbol = try XCTUnwrap(ReferenceTools.nmFunctions(binary).first { $0.name == function })
        let maps = try String(contentsOfFile: "/proc/\(pid)/maps", encoding: .utf8)
        let readelf = try Command.run("/usr/bin/readelf", ["-lW", binary]).output
        // The executable PT_LOAD: file offset and virtual address.
        let load = try XCTUnwrap(readelf.split(separator: "\n").first { $0.contains("LOAD") && $0.contains("R E") })
        let fields = load.split(separator: " ")
        let segmentOffset = UInt64(fields[1].dropFirst(2), radix: 16)!, segmentVaddr = UInt64(fields[2].dropFirst(2), radix: 16)!
        let fileOffset = symbol.address - segmentVaddr + segmentOffset
        for line in maps.split(separator: "\n") where line.contains(" r-xp ") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            let range = parts[0].split(separator: "-")
            let start = UInt64(range[0], radix: 16)!, end = UInt64(range[1], radix: 16)!
            let offset = UInt64(parts[2], radix: 16)!
            if fileOffset >= offset && fileOffset < offset + (end - start) && parts.count >= 6 {
                return start + fileOffset - offset
            }
        }
        // A regression in maps parsing (or in the fixture) must fail the live tests, not skip them.
        struct NoMapping: Error, CustomStringConvertible { var description: String }
        XCTFail("no executable mapping of \(binary) holds \(function)")
        throw NoMapping(description: "no executable mapping of \(binary) holds \(function)")
    }

    func startFixture(_ path: String) throws -> Process {
        let process = try Command.start(path, ["30"])
        Thread.sleep(forTimeInterval: 0.2)
        return process
    }

    func testLiveProcessPIE() throws {
        let path = TestEnvironment.fixture("cpu_split")
        let process = try startFixture(path)
        defer { process.terminate(); process.waitUntilExit() }
        let symbolizer = Symbolizer()
        let view = symbolizer.process(process.processIdentifier)
        XCTAssertNil(view.unavailable)
        for function in ["burn_three_quarters", "burn_one_quarter", "spin_dispatch", "run_workload", "main"] {
            let address = try runtimeAddress(of: function, binary: path, pid: process.processIdentifier)
            let frame = view.frame(address + 4, isReturnAddress: false)
            XCTAssertEqual(frame.function, function)
            XCTAssertEqual(frame.mapping?.path, path)
            XCTAssertEqual(frame.mapping?.buildID, try ReferenceTools.readelfBuildID(path))
        }
        // A return address just past a function's last byte still names the caller.
        let nm = try ReferenceTools.nmFunctions(path)
        let dispatch = try XCTUnwrap(nm.first { $0.name == "spin_dispatch" })
        let start = try runtimeAddress(of: "spin_dispatch", binary: path, pid: process.processIdentifier)
        XCTAssertEqual(view.frame(start + dispatch.size, isReturnAddress: true).function, "spin_dispatch")
    }

    func testDeletedBinaryIsStillSymbolisedThroughMapFiles() throws {
        let directory = TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let copy = directory.appendingPathComponent("doomed_fixture").path
        try FileManager.default.copyItem(atPath: TestEnvironment.fixture("cpu_split"), toPath: copy)
        let address: UInt64
        let process = try startFixture(copy)
        defer { process.terminate(); process.waitUntilExit() }
        address = try runtimeAddress(of: "burn_one_quarter", binary: copy, pid: process.processIdentifier)
        try FileManager.default.removeItem(atPath: copy)

        let frame = Symbolizer().process(process.processIdentifier).frame(address, isReturnAddress: false)
        XCTAssertEqual(frame.function, "burn_one_quarter")
        XCTAssertEqual(frame.mapping?.path, copy)
    }

    func testProcessThatJustExitedStillSymbolisesFromItsLastMaps() throws {
        let path = TestEnvironment.fixture("cpu_split")
        let process = try startFixture(path)
        let pid = process.processIdentifier
        let address = try runtimeAddress(of: "burn_one_quarter", binary: path, pid: pid)
        let symbolizer = Symbolizer()
        XCTAssertEqual(symbolizer.process(pid).frame(address, isReturnAddress: false).function, "burn_one_quarter")
        process.terminate()
        process.waitUntilExit()
        let view = symbolizer.process(pid)
        XCTAssertNotNil(view.unavailable, "the process is gone")
        XCTAssertEqual(view.frame(address, isReturnAddress: false).function, "burn_one_quarter")
    }

    func testExitedProcessYieldsPlaceholderFrames() throws {
        let process = try Command.start("/bin/true", [])
        process.waitUntilExit()
        let view = Symbolizer().process(process.processIdentifier)
        XCTAssertNotNil(view.unavailable)
        let frame = view.frame(0x401000, isReturnAddress: false)
        XCTAssertEqual(frame.function, "[exited]")
        XCTAssertFalse(frame.isSymbolized)
    }

    func testUnreadableBinaryYieldsPlaceholderNamingTheMapping() throws {
        var options = Symbolizer.Options()
        let fakeProc = TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: fakeProc) }
        try FileManager.default.createDirectory(at: fakeProc.appendingPathComponent("77"), withIntermediateDirectories: true)
        try "00400000-00401000 r-xp 00000000 fd:01 4242 /gone/binary\n".write(
            to: fakeProc.appendingPathComponent("77/maps"), atomically: true, encoding: .utf8)
        options.procRoot = fakeProc.path
        let frame = Symbolizer(options: options).process(77).frame(0x400010, isReturnAddress: false)
        XCTAssertEqual(frame.function, "[unreadable: /gone/binary]")
        XCTAssertEqual(frame.mapping?.path, "/gone/binary")
    }

    /// Placeholders say why a frame is unnamed, and each is counted by reason: a stripped
    /// binary (read, no symbol there: its ELF address given), anonymous executable memory
    /// (JIT code without a perf map), an address in no mapping.
    func testUnnamedFramesSayWhyAndAreCounted() throws {
        let fakeProc = TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: fakeProc) }
        // The stripped library's local helper: in .text, absent from its .dynsym.
        let library = TestEnvironment.fixture("libfixture_stripped.so")
        let helper = try XCTUnwrap(ReferenceTools.nmFunctions(TestEnvironment.fixture("libfixture.so")).first { $0.name == "fixture_lib_local_helper" })
        var info = stat()
        XCTAssertEqual(stat(library, &info), 0)
        let device = String(format: "%02x:%02x", (info.st_dev >> 8) & 0xfff, info.st_dev & 0xff)
        let base: UInt64 = 0x7f00_0000_0000
        let maps = "\(String(base, radix: 16))-\(String(base + 0x10000, radix: 16)) r-xp 00000000 \(device) \(info.st_ino) \(library)\n"
            + "7f0000100000-7f0000110000 r-xp 00000000 00:00 0 \n"
        try FileManager.default.createDirectory(at: fakeProc.appendingPathComponent("78"), withIntermediateDirectories: true)
        try maps.write(to: fakeProc.appendingPathComponent("78/maps"), atomically: true, encoding: .utf8)
        var options = Symbolizer.Options()
        options.procRoot = fakeProc.path
        let symbolizer = Symbolizer(options: options)
        let view = symbolizer.process(78)
        let stripped = view.frame(base + helper.address, isReturnAddress: false)
        XCTAssertEqual(stripped.function, "[stripped: \(library)+0x\(String(helper.address, radix: 16))]")
        XCTAssertEqual(view.frame(0x7f00_0010_0040, isReturnAddress: false).function, "[jit]")
        XCTAssertEqual(view.frame(0x1000, isReturnAddress: false).function, "[unknown]")
        let counts = symbolizer.unnamedFrames.snapshot
        XCTAssertEqual(counts[.stripped], 1)
        XCTAssertEqual(counts[.jit], 1)
        XCTAssertEqual(counts[.unknown], 1)
        XCTAssertEqual(counts[.unreadable], 0)
        XCTAssertEqual(counts.count, UnnamedFrameReason.allCases.count)
    }

    func testBinariesAreParsedOncePerIdentityAndBuildID() throws {
        let cache = BinaryCache()
        let path = TestEnvironment.fixture("symbols_pie")
        _ = try cache.load(path: path).get()
        _ = try cache.load(path: path).get()
        XCTAssertEqual(cache.statistics.misses, 1)
        XCTAssertEqual(cache.statistics.hits, 1)
        // A copy (another inode) with the same build-id is not parsed again.
        let directory = TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let copy = directory.appendingPathComponent("copy").path
        try FileManager.default.copyItem(atPath: path, toPath: copy)
        let a = try cache.load(path: path).get(), b = try cache.load(path: copy).get()
        XCTAssertTrue(a === b)
        XCTAssertEqual(cache.statistics.misses, 1)
    }

    /// Tables hold 16 bytes per symbol, not the names (read from the file when
    /// first asked for); binaries nobody asked for lately are dropped.
    func testTablesHoldNoNamesAndUnusedBinariesAreEvicted() throws {
        let cache = BinaryCache()
        let library = URL(fileURLWithPath: "/usr/lib/x86_64-linux-gnu/libc.so.6")
        let binary = try cache.load(path: library.path).get()
        let elf = try ELFFile(source: FileByteSource(path: library.path))
        let strings = try XCTUnwrap(elf.sections.first { $0.name == ".dynstr" })
        XCTAssertGreaterThan(binary.symbolCount, 1000)
        XCTAssertLessThan(cache.statistics.symbolBytes, binary.symbolCount * 16 + Int(strings.size) / 4, "names are not copied")
        // functionFileOffsets gives a file offset: lookup wants the ELF virtual address.
        let offset = try XCTUnwrap(try elf.functionFileOffsets(["getaddrinfo"])["getaddrinfo"])
        let vaddr = try XCTUnwrap(elf.virtualAddress(forFileOffset: offset))
        let expected = try XCTUnwrap(ReferenceTools.nmFunctions(library.path, dynamic: true).first { $0.name.split(separator: "@").first == "getaddrinfo" })
        XCTAssertEqual(vaddr, expected.address, "the offset maps back to nm's address of getaddrinfo")
        let address = try XCTUnwrap(try elf.functionSymbols().lookup(vaddr))
        XCTAssertEqual(address.address, expected.address)
        XCTAssertEqual(binary.function(at: address.address)?.systemName, "getaddrinfo")
        XCTAssertEqual(binary.systemName(at: address.address), "getaddrinfo")

        XCTAssertEqual(cache.evict(unusedFor: 60), 0, "just used")
        XCTAssertEqual(cache.statistics.binaries, 1)
        XCTAssertEqual(cache.evict(unusedFor: 0), 1)
        XCTAssertEqual(cache.statistics.binaries, 0)
        XCTAssertEqual(cache.statistics.evicted, 1)
        XCTAssertEqual(cache.statistics.symbolBytes, 0)
        XCTAssertFalse(try cache.load(path: library.path).get() === binary, "parsed again after eviction")
    }
}

/// A process in another mount namespace (as in a container): its binary lives on
/// a tmpfs mounted only there, so it must be reached through /proc/PID/root.
final class ContainerRootTests: XCTestCase {
    func testBinaryOnlyVisibleInsideItsMountNamespace() throws {
        let scratch = TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let app = scratch.appendingPathComponent("app").path
        try FileManager.default.createDirectory(atPath: app, withIntermediateDirectories: true)
        let fixture = TestEnvironment.fixture("cpu_split")
        let script = "mount -t tmpfs tmpfs \(app) && cp \(fixture) \(app)/worker && exec \(app)/worker 30"
        let process = try Command.start("/usr/bin/unshare", ["--mount", "--propagation", "private", "/bin/sh", "-c", script])
        defer { process.terminate(); process.waitUntilExit() }
        let pid = process.processIdentifier  // sh execs the worker: same pid
        var mapping: MemoryMapping?
        for _ in 0..<50 where mapping == nil {
            Thread.sleep(forTimeInterval: 0.05)
            mapping = try? ProcessMaps.read(pid: pid).mappings.first { $0.path == "\(app)/worker" }
        }
        let worker = try XCTUnwrap(mapping, "the worker never started")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(app)/worker"), "the host must not see the binary")

        // Where burn_one_quarter is: nm on the same bytes, through the worker's executable mapping.
        let symbol = try XCTUnwrap(ReferenceTools.nmFunctions(fixture).first { $0.name == "burn_one_quarter" })
        let readelf = try Command.run("/usr/bin/readelf", ["-lW", fixture]).output
        let load = try XCTUnwrap(readelf.split(separator: "\n").first { $0.contains("LOAD") && $0.contains("R E") }).split(separator: " ")
        let fileOffset = symbol.address - UInt64(load[2].dropFirst(2), radix: 16)! + UInt64(load[1].dropFirst(2), radix: 16)!
        let address = worker.start + fileOffset - worker.offset

        let frame = Symbolizer().process(pid).frame(address + 2, isReturnAddress: false)
        XCTAssertEqual(frame.function, "burn_one_quarter")
        XCTAssertEqual(frame.mapping?.path, "\(app)/worker")
        XCTAssertEqual(frame.mapping?.buildID, try ReferenceTools.readelfBuildID(fixture))
    }

    /// A container mounts over its binary's directory and puts a symlink to a host file at
    /// the mapped path. Through /proc/PID/root that symlink used to be followed against the
    /// agent's root: the agent parsed the host file and reported names from it.
    func testSymlinkPlantedAtTheMappedPathDoesNotMakeTheAgentReadAHostFile() throws {
        let scratch = TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let app = scratch.appendingPathComponent("app").path, decoy = scratch.appendingPathComponent("decoy").path
        try FileManager.default.createDirectory(atPath: app, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: TestEnvironment.fixture("symbols_pie"), toPath: decoy)  // other function names
        let fixture = TestEnvironment.fixture("cpu_split")
        let script = """
            set -e
            mount -t tmpfs tmpfs \(app) && cp \(fixture) \(app)/worker
            \(app)/worker 30 &
            worker=$!
            until grep -q '\(app)/worker' /proc/$worker/maps 2>/dev/null; do sleep 0.01; done
            mount -t tmpfs tmpfs \(app) && ln -s \(decoy) \(app)/worker
            echo $worker > \(scratch.path)/ready.tmp && mv \(scratch.path)/ready.tmp \(scratch.path)/ready
            wait
            """
        let process = try Command.start("/usr/bin/unshare", ["--mount", "--propagation", "private", "/bin/sh", "-c", script])
        defer { process.terminate(); process.waitUntilExit() }
        var ready: String?
        for _ in 0..<200 where ready == nil && process.isRunning {
            Thread.sleep(forTimeInterval: 0.05)
            ready = try? String(contentsOfFile: "\(scratch.path)/ready", encoding: .utf8)
        }
        let pid = try XCTUnwrap(Int32(try XCTUnwrap(ready, "the container never got ready").trimmingCharacters(in: .whitespacesAndNewlines)))
        defer { kill(pid, SIGKILL) }
        let worker = try XCTUnwrap(try ProcessMaps.read(pid: pid).mappings.first { $0.path == "\(app)/worker" })
        XCTAssertFalse(worker.isDeleted, "the mapped path is not deleted: only hidden by the new mount")

        // Watch the host file: it must not even be opened.
        let watch = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        XCTAssertGreaterThanOrEqual(watch, 0)
        defer { close(watch) }
        XCTAssertGreaterThanOrEqual(inotify_add_watch(watch, decoy, UInt32(IN_OPEN | IN_ACCESS)), 0)

        let symbol = try XCTUnwrap(ReferenceTools.nmFunctions(fixture).first { $0.name == "burn_one_quarter" })
        let readelf = try Command.run("/usr/bin/readelf", ["-lW", fixture]).output
        let load = try XCTUnwrap(readelf.split(separator: "\n").first { $0.contains("LOAD") && $0.contains("R E") }).split(separator: " ")
        let fileOffset = symbol.address - UInt64(load[2].dropFirst(2), radix: 16)! + UInt64(load[1].dropFirst(2), radix: 16)!
        let frame = Symbolizer().process(pid).frame(worker.start + fileOffset - worker.offset + 2, isReturnAddress: false)

        var event = [UInt8](repeating: 0, count: 4096)
        XCTAssertLessThan(read(watch, &event, event.count), 0, "the agent opened or read the host file behind the planted symlink")
        XCTAssertEqual(frame.function, "burn_one_quarter", "named from the mapped file itself (through map_files), not from the symlink's target")
        XCTAssertEqual(frame.mapping?.buildID, try ReferenceTools.readelfBuildID(fixture))
        // The watch works: reading the file ourselves is seen.
        _ = try Data(contentsOf: URL(fileURLWithPath: decoy))
        XCTAssertGreaterThan(read(watch, &event, event.count), 0, "inotify saw our own read")
    }
}
