import Foundation
import Symbolizer
import TestSupport
import XCTest

/// Our ELF symbolisation must name the same function as llvm-symbolizer and nm
/// for every probed address of every kind of binary.
final class ELFSymbolsAgreeWithReferenceTests: XCTestCase {
    /// (fixture, file to list symbols from, list .dynsym?, debug directory for both tools)
    func check(_ fixture: String, symbolsFrom listed: String? = nil, dynamic: Bool = false, debugDirectory: String? = nil,
               expectSymbols: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let path = TestEnvironment.fixture(fixture)
        let symbols = try ReferenceTools.nmFunctions(listed.map(TestEnvironment.fixture) ?? path, dynamic: dynamic)
        let names = Set(symbols.map(\.name))
        for expected in expectSymbols {
            XCTAssertTrue(names.contains(where: { $0 == expected }), "nm does not list \(expected) in \(fixture)", file: file, line: line)
        }
        let addresses = ReferenceTools.probeAddresses(symbols)
        XCTAssertGreaterThan(addresses.count, 5, file: file, line: line)

        let cache = BinaryCache(debugFiles: DebugFileLocator(directories: debugDirectory.map { [$0] } ?? []))
        let binary = try cache.load(path: path).get()
        // For stripped binaries with a separate debug file, llvm-symbolizer takes only DWARF from
        // that file (so it knows no name for crt code like _start): ask it about the debug file itself.
        let reference = try ReferenceTools.llvmSymbolizer(listed.map(TestEnvironment.fixture) ?? path, addresses)
        XCTAssertEqual(reference.count, addresses.count, file: file, line: line)
        var mismatches: [String] = []
        for (address, expected) in zip(addresses, reference) {
            let ours = binary.function(at: address)?.name ?? "??"
            if ours != expected { mismatches.append("0x\(String(address, radix: 16)): ours \(ours), llvm-symbolizer \(expected)") }
            XCTAssertNotEqual(ours, "??", "no symbol at 0x\(String(address, radix: 16)) in \(fixture)", file: file, line: line)
        }
        XCTAssertEqual(mismatches, [], "\(fixture): \(mismatches.count) of \(addresses.count) addresses differ", file: file, line: line)

        // nm agreement: the raw name at each symbol's first byte.
        for symbol in symbols {
            XCTAssertEqual(binary.function(at: symbol.address)?.systemName, symbol.name, "\(fixture) at 0x\(String(symbol.address, radix: 16))", file: file, line: line)
        }
    }

    func testPIEExecutable() throws {
        try check("symbols_pie", expectSymbols: ["main", "symbols_exported_one", "symbols_static_worker"])
    }

    func testNonPIEExecutable() throws {
        try check("symbols_nopie", expectSymbols: ["main", "symbols_exported_two", "symbols_static_worker"])
    }

    func testSharedLibrary() throws {
        try check("libfixture.so", expectSymbols: ["fixture_lib_alpha", "fixture_lib_beta", "fixture_lib_local_helper"])
    }

    /// Swift's mangled names start with "$s" (like ARM mapping symbols "$x"): they must be kept.
    /// The Swift runtime library of the toolchain that builds us, against llvm-symbolizer (no demangling).
    func testSwiftRuntimeLibraryNames() throws {
        let swift = try XCTUnwrap(TestEnvironment.which("swift"))
        let toolchain = URL(fileURLWithPath: swift).resolvingSymlinksInPath().deletingLastPathComponent().deletingLastPathComponent()
        let library = toolchain.appendingPathComponent("lib/swift/linux/libswiftCore.so").path
        let all = try ReferenceTools.nmFunctions(library)
        let symbols = stride(from: 0, to: all.count, by: max(all.count / 1500, 1)).map { all[$0] }
        XCTAssertGreaterThan(symbols.filter { $0.name.hasPrefix("$s") }.count, 100, "libswiftCore has Swift symbols")
        let addresses = ReferenceTools.probeAddresses(symbols)
        let reference = try ReferenceTools.llvmSymbolizer(library, addresses, demangle: false)
        let binary = try BinaryCache().load(path: library).get()
        var mismatches: [String] = []
        for (address, expected) in zip(addresses, reference) where (binary.function(at: address)?.systemName ?? "??") != expected {
            mismatches.append("0x\(String(address, radix: 16)): ours \(binary.function(at: address)?.systemName ?? "??"), llvm-symbolizer \(expected)")
        }
        XCTAssertEqual(mismatches.count, 0, "\(mismatches.count) of \(addresses.count) differ: \(mismatches.prefix(5))")
    }

    func testSharedLibraryStrippedToDynsym() throws {
        try check("libfixture_stripped.so", dynamic: true, expectSymbols: ["fixture_lib_alpha", "fixture_lib_beta"])
    }

    func testExecutableStrippedToDynsym() throws {
        try check("symbols_dynsym", dynamic: true, expectSymbols: ["symbols_exported_one", "symbols_exported_two"])
    }

    func testSeparateDebugFileByBuildID() throws {
        let path = TestEnvironment.fixture("symbols_buildid_debug")
        let id = try ReferenceTools.readelfBuildID(path)
        XCTAssertEqual(id.count, 40)
        let debugFile = "debug/.build-id/\(id.prefix(2))/\(id.dropFirst(2)).debug"
        try check("symbols_buildid_debug", symbolsFrom: debugFile, debugDirectory: TestEnvironment.fixture("debug"),
                  expectSymbols: ["symbols_static_worker", "main"])
    }

    func testSeparateDebugFileByDebugLink() throws {
        try check("symbols_debuglink", symbolsFrom: ".debug/symbols_debuglink.debug", expectSymbols: ["symbols_static_worker"])
    }

    /// Fedora-style MiniDebugInfo (`.gnu_debugdata`, made by the Makefile as find-debuginfo
    /// does): the stripped binary names every function of the unstripped one, as
    /// llvm-symbolizer names them there.
    func testMiniDebugInfoNamesWhatDynsymLacks() throws {
        try check("symbols_minidebuginfo", symbolsFrom: "symbols_minidebuginfo.full", expectSymbols: ["symbols_static_worker", "main"])
        let binary = try BinaryCache().load(path: TestEnvironment.fixture("symbols_minidebuginfo")).get()
        XCTAssertEqual(binary.symbolKind, .miniDebugInfo)
    }

    /// A decompression bomb (300 MB of zeros, 44 KB of xz), a cut stream and garbage in
    /// `.gnu_debugdata`: each binary still loads, with its `.dynsym` names.
    func testHostileMiniDebugInfoFallsBackToDynsym() throws {
        let scratch = TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let bomb = scratch.appendingPathComponent("bomb.xz").path
        let made = try Command.run("/bin/sh", ["-c", "head -c 300000000 /dev/zero | xz -0 -T1 > \(bomb)"])
        XCTAssertEqual(made.status, 0, made.stderr)
        let bombBytes = try Data(contentsOf: URL(fileURLWithPath: bomb))
        XCTAssertNil(MiniDebugInfo.decompress(Array(bombBytes)), "a 300 MB image is over the bound")
        let cut = scratch.appendingPathComponent("cut.xz").path
        try bombBytes.prefix(bombBytes.count / 2).write(to: URL(fileURLWithPath: cut))
        let garbage = scratch.appendingPathComponent("garbage.xz").path
        try Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 37) }).write(to: URL(fileURLWithPath: garbage))
        let exported = try ReferenceTools.nmFunctions(TestEnvironment.fixture("symbols_dynsym"), dynamic: true)
        let one = try XCTUnwrap(exported.first { $0.name == "symbols_exported_one" })
        for section in [bomb, cut, garbage] {
            let binary = scratch.appendingPathComponent("with-" + URL(fileURLWithPath: section).lastPathComponent).path
            let added = try Command.run("/usr/bin/objcopy", ["--add-section", ".gnu_debugdata=\(section)", TestEnvironment.fixture("symbols_dynsym"), binary])
            XCTAssertEqual(added.status, 0, added.stderr)
            let loaded = try BinaryCache().load(path: binary).get()
            XCTAssertEqual(loaded.symbolKind, .dynsym, section)
            XCTAssertEqual(loaded.function(at: one.address)?.name, "symbols_exported_one", section)
        }
    }

    func testCppNamesAreDemangledLikeLLVM() throws {
        try check("cpp_names", expectSymbols: ["_ZNK7fixture4deep6Widget4spinEi", "_ZN7fixture10overloadedEd"])
        let binary = try BinaryCache().load(path: TestEnvironment.fixture("cpp_names")).get()
        let spin = try XCTUnwrap(ReferenceTools.nmFunctions(TestEnvironment.fixture("cpp_names")).first { $0.name == "_ZNK7fixture4deep6Widget4spinEi" })
        XCTAssertEqual(binary.function(at: spin.address)?.name, "fixture::deep::Widget::spin(int) const")
    }

    func testBuildIDMatchesReadelf() throws {
        for fixture in ["symbols_pie", "symbols_nopie", "libfixture.so", "symbols_dynsym", "cpp_names"] {
            let path = TestEnvironment.fixture(fixture)
            let elf = try ELFFile(source: FileByteSource(path: path))
            XCTAssertEqual(elf.buildIDHex, try ReferenceTools.readelfBuildID(path), fixture)
            XCTAssertFalse(elf.buildIDHex.isEmpty, fixture)
        }
        let noID = try ELFFile(source: FileByteSource(path: TestEnvironment.fixture("symbols_debuglink")))
        XCTAssertNil(noID.buildID)
        XCTAssertEqual(noID.debugLink?.name, "symbols_debuglink.debug")
    }
}
