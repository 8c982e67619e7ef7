import Foundation
import Symbolizer
import TestSupport
import XCTest

/// Rust names (`Fixtures/rust_names.rs` built with Debian's rustc, legacy and v0 mangling)
/// demangled as rustfilt prints them: no crate disambiguators, no legacy `::h<hash>`.
final class RustNamesTests: XCTestCase {
    var scratch: URL!

    override func setUp() { scratch = TestEnvironment.temporaryDirectory() }
    override func tearDown() { try? FileManager.default.removeItem(at: scratch) }

    /// Debian's rustc (/usr/bin/rustc, scripts/setup.sh), not a rustup toolchain that may shadow it.
    func build(_ mangling: String) throws -> String {
        let rustc = "/usr/bin/rustc"
        guard FileManager.default.isExecutableFile(atPath: rustc) else { throw ReferenceToolMissing(name: "/usr/bin/rustc (apt-get install rustc)") }
        let output = scratch.appendingPathComponent("rust_names_\(mangling)").path
        let source = TestEnvironment.packageRoot.appendingPathComponent("Fixtures/rust_names.rs").path
        // Legacy is the default (asking for it by name needs a nightly compiler).
        let flags = mangling == "v0" ? ["-C", "symbol-mangling-version=v0"] : []
        let result = try Command.run(rustc, ["-O"] + flags + ["-o", output, source],
                                     environment: ["PATH": "/usr/bin:/bin", "TMPDIR": scratch.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        return output
    }

    /// The Rust-mangled function symbols of `path` (`nm`: text symbols only).
    func rustSymbols(_ path: String) throws -> [String] {
        let result = try Command.run("/usr/bin/nm", ["--defined-only", path])
        XCTAssertEqual(result.status, 0, result.stderr)
        return result.output.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count == 3, "tTwW".contains(fields[1]), fields[2].hasPrefix("_R") || fields[2].hasPrefix("_ZN") else { return nil }
            return String(fields[2])
        }
    }

    /// The fixture's own functions, written out as rustfilt prints them.
    func testFixtureFunctionsDemangleAsWrittenHere() throws {
        let expected: [String: Set<String>] = [
            "v0": [
                "rust_names::main", "rust_names::apply", "rust_names::exported_c", "rust_names::nested::deeper::arrays",
                "rust_names::nested::deeper::walk::<u8>", "rust_names::nested::deeper::walk::<u32>",
                "<rust_names::Square<3> as rust_names::Shape>::area", "<rust_names::Square<5> as rust_names::Shape>::area",
                "<rust_names::Wrapper<alloc::vec::Vec<i32>> as core::fmt::Display>::fmt",
                "core::ptr::drop_in_place::<alloc::boxed::Box<dyn rust_names::Shape>>",
                "alloc::alloc::box_free::<dyn rust_names::Shape, alloc::alloc::Global>",
            ],
            "legacy": [
                "rust_names::main", "rust_names::apply", "rust_names::exported_c", "rust_names::nested::deeper::arrays",
                "rust_names::nested::deeper::walk", "<rust_names::Square<_> as rust_names::Shape>::area",
                "<rust_names::Wrapper<T> as core::fmt::Display>::fmt",
                "core::ptr::drop_in_place<rust_names::Square<3_usize>>",
                "core::ptr::drop_in_place<alloc::boxed::Box<dyn rust_names::Shape>>",
            ],
        ]
        for (mangling, names) in expected {
            let demangled = Set(try rustSymbols(try build(mangling)).map { Demangler.demangle($0) })
            XCTAssertTrue(names.isSubset(of: demangled), "\(mangling): missing \(names.subtracting(demangled).sorted())\nhave: \(demangled.filter { $0.contains("rust_names") }.sorted())")
        }
    }

    /// Every Rust symbol of both builds (the fixture's and the standard library's, ~775 each)
    /// against binutils' `c++filt -s rust`, whose verbose form differs from rustfilt's only by
    /// crate disambiguators (`core[4e4b…]`), the legacy hash (`::h0123…`) and a type after
    /// integer constants (`3: usize`): those removed, every name must be equal.
    func testEveryRustSymbolAgreesWithCxxfilt() throws {
        for mangling in ["v0", "legacy"] {
            let symbols = try rustSymbols(try build(mangling))
            XCTAssertGreaterThan(symbols.count, 500)
            if mangling == "v0" { XCTAssertGreaterThan(symbols.filter { $0.hasPrefix("_R") }.count, 20) }
            let reference = try Command.run("/usr/bin/c++filt", ["-s", "rust"], input: Data((symbols.joined(separator: "\n") + "\n").utf8))
            XCTAssertEqual(reference.status, 0, reference.stderr)
            let expected = reference.output.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(Self.shortForm)
            XCTAssertEqual(expected.count, symbols.count)
            var differing: [String] = []
            for (symbol, want) in zip(symbols, expected) where Demangler.demangle(symbol) != want {
                differing.append("\(symbol): ours \(Demangler.demangle(symbol)), c++filt \(want)")
            }
            print("rust \(mangling): \(symbols.count) symbols, \(differing.count) differ")
            XCTAssertEqual(differing.count, 0, differing.prefix(20).joined(separator: "\n"))
        }
    }

    /// c++filt's verbose form → rustfilt's: `name[hex]` → `name`, `::h<16 hex>` at the end
    /// dropped, `<3: usize>` → `<3>`.
    static func shortForm(_ name: Substring) -> String {
        var out = String(name)
        out = out.replacingOccurrences(of: #"\[[0-9a-f]+\]"#, with: "", options: .regularExpression)
        out = out.replacingOccurrences(of: #"::h[0-9a-f]{16}$"#, with: "", options: .regularExpression)
        out = out.replacingOccurrences(of: #"(-?[0-9]+): (u8|u16|u32|u64|u128|usize|i8|i16|i32|i64|i128|isize)\b"#, with: "$1", options: .regularExpression)
        return out
    }

    /// Hostile names never crash and stay bounded: cut at every length, bytes flipped.
    func testMalformedRustNamesAreRefusedNotCrashed() throws {
        let seeds = try rustSymbols(try build("v0")).filter { $0.hasPrefix("_R") }.prefix(10)
        var random = SplitMix64(seed: 7)
        for seed in seeds {
            let bytes = Array(seed.utf8)
            for cut in 2..<bytes.count { _ = RustDemangler.demangle(String(decoding: bytes[..<cut], as: UTF8.self)) }
            for _ in 0..<200 {
                var mutated = bytes
                mutated[Int(random.next() % UInt64(mutated.count - 2)) + 2] = UInt8(truncatingIfNeeded: random.next() % 94 + 33)
                if let out = RustDemangler.demangle(String(decoding: mutated, as: UTF8.self)) { XCTAssertLessThanOrEqual(out.utf8.count, 4096) }
            }
        }
        // Backreferences that point forward or at themselves, and deep nesting.
        for name in ["_RB_", "_RNvB0_3foo", "_RIC3fooBa_E", "_R" + String(repeating: "NvNv", count: 500) + "C3foo"] {
            XCTAssertNil(RustDemangler.demangle(name), name)
        }
    }
}
