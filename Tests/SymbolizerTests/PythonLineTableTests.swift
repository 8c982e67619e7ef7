import Foundation
import Symbolizer
import TestSupport
import XCTest

/// The Python line-table decoder must give the line CPython itself gives for every
/// code unit of every code object the real interpreters compile, and must survive
/// hostile tables (they are read out of another process's memory).
final class PythonLineTableTests: XCTestCase {
    // MARK: Against the real interpreters

    /// Debian's interpreter is part of the test image: it must be there.
    func testDebianPython311() throws {
        let path = "/usr/bin/python3.11"
        guard FileManager.default.isExecutableFile(atPath: path) else {
            XCTFail("\(path) (Debian's python3.11) is missing")
            return
        }
        try checkAgainstInterpreter(path, minor: 11)
    }

    func testPyenvPython36() throws { try checkPyenvInterpreter(minor: 6) }
    func testPyenvPython37() throws { try checkPyenvInterpreter(minor: 7) }
    func testPyenvPython38() throws { try checkPyenvInterpreter(minor: 8) }
    func testPyenvPython39() throws { try checkPyenvInterpreter(minor: 9) }
    func testPyenvPython310() throws { try checkPyenvInterpreter(minor: 10) }
    func testPyenvPython311() throws { try checkPyenvInterpreter(minor: 11) }
    func testPyenvPython312() throws { try checkPyenvInterpreter(minor: 12) }
    func testPyenvPython313() throws { try checkPyenvInterpreter(minor: 13) }

    func testFormatOfVersion() {
        XCTAssertNil(PythonLineTable.format(major: 2, minor: 7))
        XCTAssertNil(PythonLineTable.format(major: 3, minor: 5))
        XCTAssertEqual(PythonLineTable.format(major: 3, minor: 6), .lnotab38)
        XCTAssertEqual(PythonLineTable.format(major: 3, minor: 8), .lnotab38)
        XCTAssertEqual(PythonLineTable.format(major: 3, minor: 9), .lnotab38)
        XCTAssertEqual(PythonLineTable.format(major: 3, minor: 10), .linetable310)
        XCTAssertEqual(PythonLineTable.format(major: 3, minor: 11), .locations311)
        XCTAssertEqual(PythonLineTable.format(major: 3, minor: 13), .locations311)
        XCTAssertNil(PythonLineTable.format(major: 3, minor: 99))
        XCTAssertNil(PythonLineTable.format(major: 4, minor: 0))
    }

    // MARK: Hand-built tables with known answers

    func testLocationsTableEntryKinds() {
        let table: [UInt8] = [
            0xD9, 0x00, 0x05,              // one-line form, code 11 (line +1), 2 units, columns 0-5
            0xF8,                          // code 15: no location, 1 unit
            0xF2, 0x07, 0x00, 0x01, 0x02,  // long form, 3 units: line -3, end line +0, columns
            0xE8, 0x48, 0x03,              // no-column form, 1 unit: line +100 (svarint 200 in 2 chunks)
            0x9F, 0x12,                    // short form code 3, 8 units: same line
        ]
        let expected: [Int?] = [11, 11, nil, 8, 8, 8, 108] + Array(repeating: 108, count: 8) + [nil]
        XCTAssertEqual((0..<expected.count).map { line($0, 10, table, .locations311) }, expected)
        XCTAssertNil(line(-1, 10, table, .locations311))
        XCTAssertNil(line(0, 10, [], .locations311))
        XCTAssertNil(line(0, 10, [0x12, 0xD9], .locations311), "a table must start with an entry byte")
    }

    func testLocationsTableVarintLimits() {
        // A non-minimal 6-chunk varint (value 2, svarint +1) is accepted; 7 chunks are not.
        XCTAssertEqual(line(0, 10, [0xE8, 0x42, 0x40, 0x40, 0x40, 0x40, 0x00], .locations311), 11)
        XCTAssertNil(line(0, 10, [0xE8, 0x42, 0x40, 0x40, 0x40, 0x40, 0x40, 0x00], .locations311))
        // Truncated: the continuation bit is set on the entry's last payload byte, or no payload at all.
        XCTAssertNil(line(0, 10, [0xE8, 0x42], .locations311))
        XCTAssertNil(line(0, 10, [0xE8, 0x42, 0x80], .locations311))
        XCTAssertNil(line(0, 10, [0xF0], .locations311))
        // A malformed entry after the one asked about does not matter.
        XCTAssertEqual(line(0, 10, [0x80, 0x00, 0xF0, 0x7F], .locations311), 10)
        // Lines below 0 or beyond Int32.max are not lines.
        XCTAssertNil(line(0, 0, [0xE8, 0x03], .locations311))
        XCTAssertEqual(line(0, 1, [0xE8, 0x03], .locations311), 0)
        XCTAssertNil(line(0, Int(Int32.max), [0xD8, 0x00, 0x00], .locations311))
    }

    func testLineTable310() {
        // (4, +1): bytes 0-3; (0, +127): empty, lines 128 apart; (6, +5): bytes 4-9;
        // (2, -128): byte 10 has no line; (2, -2): bytes 12-13.
        let table: [UInt8] = [4, 1, 0, 127, 6, 5, 2, 0x80, 2, 0xFE]
        let expected: [Int?] = [2, 2, 134, 134, 134, nil, 132, nil, nil]
        XCTAssertEqual((0..<expected.count).map { line($0, 1, table, .linetable310) }, expected)
        XCTAssertNil(line(0, 1, [], .linetable310))
        XCTAssertNil(line(0, 1, [4], .linetable310), "a lone odd byte is no pair")
        XCTAssertNil(line(Int.max, 1, table, .linetable310))
    }

    func testLnotab38() {
        // Pairs (byte increment, line increment): (6, +1), (0, +127), (4, +2), (2, -3).
        let table: [UInt8] = [6, 1, 0, 127, 4, 2, 2, 0xFD]
        let expected: [Int?] = [1, 1, 1, 129, 129, 131, 128, 128]
        XCTAssertEqual((0..<expected.count).map { line($0, 1, table, .lnotab38) }, expected)
        // co_lnotab has no end: the last line runs to the end of the code, as in CPython.
        XCTAssertEqual(line(1_000_000, 1, table, .lnotab38), 128)
        XCTAssertEqual(line(Int.max, 1, table, .lnotab38), 128)
        XCTAssertEqual(line(5, 7, [], .lnotab38), 7)
        XCTAssertNil(line(-1, 7, table, .lnotab38))
    }

    // MARK: Hostile input

    /// Random tables, offsets and first lines: no trap, and any line is in range.
    func testRandomTablesNeverTrap() {
        var random = SplitMix64(seed: 0x5059_4C49_4E45)
        for round in 0..<1500 {
            let count = round < 100 ? round : random.below(400)
            let table = (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            let offsets = [Int.min, -1, 0, 1, count / 2, count, count * 8, Int.max, random.below(4 * count + 1)]
            let firstLines = [Int.min, -1, 0, 1, Int(Int32.max), Int.max, random.below(1 << 20)]
            for format in PythonLineTable.Format.allCases {
                for offset in offsets {
                    for firstLine in firstLines {
                        if let found = line(offset, firstLine, table, format) {
                            XCTAssert((0...Int(Int32.max)).contains(found), "\(format) gave line \(found)")
                        }
                    }
                }
            }
        }
    }

    /// Truncating a 3.10+ table never changes a line, it can only lose it.
    func testTruncatedTablesLoseLinesOnly() {
        var random = SplitMix64(seed: 42)
        for _ in 0..<60 {
            let locations = randomLocationsTable(&random, entries: 40)
            let pairs = (0..<80).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            for (format, table) in [(PythonLineTable.Format.locations311, locations), (.linetable310, pairs)] {
                let full = (0..<400).map { line($0, 1000, table, format) }
                for cut in 0...table.count {
                    let prefix = Array(table[..<cut])
                    for offset in stride(from: 0, to: 400, by: 7) {
                        let found = line(offset, 1000, prefix, format)
                        XCTAssert(found == nil || found == full[offset], "\(format) prefix \(cut) offset \(offset)")
                    }
                }
            }
        }
    }

    /// 1 MiB tables of the worst shapes are decoded in one pass.
    func testMebibyteTablesAreLinear() {
        let size = 1 << 20
        let cases: [(String, PythonLineTable.Format, [UInt8], Int?)] = [
            // One long-form entry whose varint never ends.
            ("endless varint", .locations311, [0xF0] + Array(repeating: 0x7F, count: size - 1), nil),
            // One short-form entry with a 1 MiB payload (past it: nil).
            ("huge payload", .locations311, [0x80] + Array(repeating: 0x01, count: size - 1), nil),
            // Every byte an entry: code 10 (same line), 8 units each: 8 Mi units.
            ("every byte an entry", .locations311, Array(repeating: 0xD7, count: size), nil),
            // Every entry a +1 line, 1 unit: the offset past the end.
            ("one-line forms", .locations311, Array(repeating: 0xD8, count: size), nil),
            ("3.10 pairs", .linetable310, Array(repeating: 1, count: size), nil),
            ("3.10 no-line pairs", .linetable310, [UInt8](repeating: 0x80, count: size), nil),
            ("lnotab pairs", .lnotab38, Array(repeating: 1, count: size), 1 + size / 2),
        ]
        for (name, format, table, expected) in cases {
            let start = Date()
            XCTAssertEqual(line(size * 8, 1, table, format), expected, name)
            let elapsed = Date().timeIntervalSince(start)
            XCTAssertLessThan(elapsed, 2.0, "\(name): \(elapsed)s for 1 MiB")
        }
        // The last unit of the "every byte an entry" table is still found.
        XCTAssertEqual(line(size * 8 - 1, 1, Array(repeating: 0xD7, count: size), .locations311), 1)
        XCTAssertEqual(line(size - 1, 1, Array(repeating: 0xD8, count: size), .locations311), size + 1)
    }

    // MARK: Helpers

    private func line(_ offset: Int, _ firstLine: Int, _ table: [UInt8], _ format: PythonLineTable.Format) -> Int? {
        PythonLineTable.line(forCodeUnit: offset, firstLine: firstLine, table: table, format: format)
    }

    /// Well-formed entries of random kinds (some with multi-chunk varints).
    private func randomLocationsTable(_ random: inout SplitMix64, entries: Int) -> [UInt8] {
        var table: [UInt8] = []
        for _ in 0..<entries {
            let code = random.below(16), length = random.below(8)
            table.append(0x80 | UInt8(code << 3) | UInt8(length))
            switch code {
            case 15: break
            case 13, 14:
                let delta = random.below(20_000) - 10_000
                var value = delta < 0 ? (UInt64(-delta) << 1) | 1 : UInt64(delta) << 1
                repeat {
                    let more = value >= 64
                    table.append(UInt8(value & 63) | (more ? 64 : 0))
                    value >>= 6
                } while value > 0
                if code == 14 { table += [0x00, 0x05, 0x07] }
            case 10...12: table += [0x03, 0x09]
            default: table.append(0x21)
            }
        }
        return table
    }

    private func checkPyenvInterpreter(minor: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let root = pyenvRoot()
        let versions = URL(fileURLWithPath: root).appendingPathComponent("versions")
        let installed = (try? FileManager.default.contentsOfDirectory(atPath: versions.path)) ?? []
        let candidates = installed.filter { $0.hasPrefix("3.\(minor).") }.sorted()
        let executables = candidates.map { versions.appendingPathComponent("\($0)/bin/python3.\(minor)").path }
            .filter { FileManager.default.isExecutableFile(atPath: $0) }
        guard let path = executables.last else {
            throw XCTSkip("python3.\(minor) is not installed under \(versions.path)")
        }
        try checkAgainstInterpreter(path, minor: minor, file: file, line: line)
    }

    private func pyenvRoot() -> String {
        if let root = ProcessInfo.processInfo.environment["PYENV_ROOT"], !root.isEmpty { return root }
        if let pyenv = TestEnvironment.which("pyenv"), let result = try? Command.run(pyenv, ["root"]), result.status == 0 {
            let root = result.output.trimmingCharacters(in: .whitespacesAndNewlines)
            if !root.isEmpty { return root }
        }
        return (ProcessInfo.processInfo.environment["HOME"] ?? "/root") + "/.pyenv"
    }

    private struct Probe: Decodable {
        var version: [Int]
        var codes: [CodeObject]
    }

    private struct CodeObject: Decodable {
        var name: String
        var first: Int
        var table: String
        var units: Int
        var lines: [Int?]
    }

    /// Runs the probe under `path` (for 3.11+ also without column information, which
    /// makes every entry a no-column one) and checks every code unit.
    private func checkAgainstInterpreter(_ path: String, minor: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let runs: [[String]] = minor >= 11 ? [[], ["-X", "no_debug_ranges"]] : [[]]
        var entryCodes = Set<Int>()
        for options in runs {
            let result = try Command.run(path, ["-I"] + options + ["-c", Self.probeScript])
            XCTAssertEqual(result.status, 0, "\(path) \(options): \(result.stderr)", file: file, line: line)
            guard result.status == 0 else { return }
            let probe = try JSONDecoder().decode(Probe.self, from: result.stdout)
            XCTAssertEqual(probe.version, [3, minor], path, file: file, line: line)
            let format = try XCTUnwrap(PythonLineTable.format(major: 3, minor: minor), file: file, line: line)

            var checked = 0, mismatches: [String] = [], highest = 0, noLine = 0
            for code in probe.codes {
                let table = try XCTUnwrap(Self.bytes(hex: code.table), "\(code.name): bad hex", file: file, line: line)
                XCTAssertEqual(code.lines.count, code.units, file: file, line: line)
                for (unit, expected) in code.lines.enumerated() {
                    let ours = PythonLineTable.line(forCodeUnit: unit, firstLine: code.first, table: table, format: format)
                    if ours != expected {
                        mismatches.append("\(code.name)@\(unit): ours \(ours.map(String.init) ?? "nil"), CPython \(expected.map(String.init) ?? "nil")")
                    }
                    checked += 1
                    highest = max(highest, expected ?? 0)
                    if expected == nil { noLine += 1 }
                }
                if format != .lnotab38 {
                    XCTAssertNil(PythonLineTable.line(forCodeUnit: code.units, firstLine: code.first, table: table, format: format),
                                 "\(code.name): the table should end with the code", file: file, line: line)
                }
                if format == .locations311 {
                    for byte in table where byte & 0x80 != 0 { entryCodes.insert(Int(byte >> 3) & 15) }
                }
            }
            XCTAssertEqual(mismatches.count, 0, "\(path) \(options): \(mismatches.count) of \(checked) code units differ: "
                + mismatches.prefix(20).joined(separator: "; "), file: file, line: line)
            XCTAssertGreaterThan(checked, 1000, file: file, line: line)
            XCTAssertGreaterThan(probe.codes.count, 10, file: file, line: line)
            XCTAssertGreaterThan(highest, 100_000, "the probe's far-away function was not reached", file: file, line: line)
            if format != .lnotab38 { XCTAssertGreaterThan(noLine, 0, "no instruction without a line", file: file, line: line) }
        }
        if minor >= 11 {
            XCTAssertEqual(entryCodes, Set(0...15), "entry kinds the interpreter produced", file: file, line: line)
        }
    }

    private static func bytes(hex: String) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        for index in stride(from: 0, to: digits.count, by: 2) {
            guard let byte = UInt8(String(decoding: digits[index...index + 1], as: UTF8.self), radix: 16) else { return nil }
            bytes.append(byte)
        }
        return bytes
    }

    /// Compiles source with loops, comprehensions, try/except, multi-line expressions
    /// (negative deltas), long and wide lines and gaps of 65 to 100000 lines, then prints
    /// as JSON every code object's table, co_firstlineno and the line CPython gives
    /// each code unit: co_lines() on 3.10+, dis.findlinestarts() before. Runs on 3.6+.
    private static let probeScript = #"""
import dis, json, sys, types

def build_source():
    parts = ['''
import os
GLOBAL = [n * n for n in range(10) if n % 2]

def loops(limit):
    total = 0
    for i in range(limit):
        while total < i:
            total += 1
            if total == 7:
                break
            elif total == 9:
                continue
        try:
            total += {k: v for k, v in enumerate(range(i))}[0]
        except (KeyError, IndexError) as error:
            total -= 1
        except Exception:
            raise
        else:
            total += 2
        finally:
            total *= 1
    return total
''']
    parts.append("\n" * 70)
    parts.append('''
class Widget(object):
    size = sum(x for x in range(3))

    def __init__(self, name,
                 colour="red",
                 weight=3):
        self.name = name
        self.callback = lambda value: (value +
                                       weight)

    def generate(self):
        for item in (1, 2, 3):
            yield {item,
                   item * 2}

async def fetch(source):
    async with source as handle:
        return await handle.read()

def spanning(call):
    value = call(
        1,
''')
    parts.append("\n" * 300)
    parts.append('''        2)
    with open(os.devnull) as stream:
        stream.read()
    return value
''')
    parts.append("\n" * 5000)
    terms = " + ".join("a%d" % (i % 7) for i in range(400))
    parts.append("def long_line(a0, a1, a2, a3, a4, a5, a6):\n    return " + terms + "\n")
    parts.append("\n" * 65)
    parts.append("def wide(x):\n    return [" + ", ".join("x[%d]" % i for i in range(30)) + "]" + " " * 5000 + "; y = x\n")
    if sys.version_info >= (3, 10):
        parts.append('''
def matcher(command):
    match command.split():
        case [action]:
            return action
        case [action, obj] if obj:
            return obj
        case _:
            return None
''')
    parts.append("\n" * 100000 + "def far_away():\n    return 1\n")
    return "".join(parts)

def expected_lines(code, units):
    if sys.version_info >= (3, 10):
        lines = [None] * units
        for start, end, line in code.co_lines():
            for byte in range(start, end, 2):
                if byte // 2 < units:
                    lines[byte // 2] = line
        return lines
    starts = list(dis.findlinestarts(code))
    lines = []
    for unit in range(units):
        found = None
        for address, line in starts:
            if address <= unit * 2:
                found = line
        lines.append(found)
    return lines

def walk(code, out):
    units = len(code.co_code) // 2
    table = code.co_linetable if sys.version_info >= (3, 10) else code.co_lnotab
    out.append({"name": code.co_name, "first": code.co_firstlineno, "table": table.hex(),
                "units": units, "lines": expected_lines(code, units)})
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            walk(constant, out)

codes = []
walk(compile(build_source(), "<line-table-probe>", "exec"), codes)
print(json.dumps({"version": list(sys.version_info[:2]), "codes": codes}))
"""#
}
