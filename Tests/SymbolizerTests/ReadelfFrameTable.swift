import Foundation
import Symbolizer
import TestSupport

/// The `.eh_frame` rows binutils' `readelf --debug-dump=frames-interp` prints,
/// reduced the way `UnwindTable` reduces its own rows (signal frame; RA undefined;
/// RA at c-8; CFA rsp/rbp+k or expression; rbp unchanged or c+k), as a table of
/// FDE ranges and rows. CFA expressions ("exp") are read from the raw dump
/// (`--debug-dump=frames`) of the same FDE.
struct ReadelfFrameTable {
    /// What readelf's row means for a BPF walker.
    enum Expected: Equatable, CustomStringConvertible {
        case rule(UnwindTable.Rule)
        /// A rule `UnwindTable` must report as `invalid` (kind as `UnsupportedRowKind` names it).
        case unsupported(String)

        var description: String {
            switch self {
            case .rule(let rule): "\(rule.cfa) rbp=\(rule.framePointer)"
            case .unsupported(let kind): "unsupported(\(kind))"
            }
        }
    }

    struct FDE {
        var start: UInt64
        var end: UInt64
        var rows: [(address: UInt64, expected: Expected)]
    }

    var fdes: [FDE] = []

    /// Runs readelf on `path` and parses its `section` (".eh_frame" or ".debug_frame").
    init(path: String, readelf: String, section: String = ".eh_frame") throws {
        let interpreted = try Command.run(readelf, ["--debug-dump=no-follow-links", "--debug-dump=frames-interp", path])
        let raw = try Command.run(readelf, ["--debug-dump=no-follow-links", "--debug-dump=frames", path])
        // readelf may exit 1 after complaints unrelated to frames (e.g. a stripped PT_INTERP name).
        let heading = "Contents of the \(section) section"
        guard interpreted.output.contains(heading), raw.output.contains(heading) else {
            throw ReferenceToolMissing(name: "readelf output with \(section) for \(path) (stderr: \(interpreted.stderr))")
        }
        let expressions = Self.cfaExpressions(raw.output, section: section)
        try self.init(interpreted: interpreted.output, expressions: expressions, section: section)
    }

    /// Lines of one section only (readelf prints `.eh_frame` and `.debug_frame`).
    static func sectionLines(_ text: String, _ section: String) -> [Substring] {
        var inside = false
        var lines: [Substring] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("Contents of the ") { inside = line.hasPrefix("Contents of the \(section) section"); continue }
            if inside { lines.append(line) }
        }
        return lines
    }

    /// FDE start → [(location, expression text)] of its `DW_CFA_def_cfa_expression`s.
    static func cfaExpressions(_ raw: String, section: String) -> [UInt64: [(UInt64, String)]] {
        var result: [UInt64: [(UInt64, String)]] = [:]
        var fdeStart: UInt64? = nil, location: UInt64 = 0
        for line in sectionLines(raw, section) {
            if let range = fdeRange(line) {
                fdeStart = range.start
                location = range.start
            } else if line.contains("DW_CFA_advance_loc") || line.contains("DW_CFA_set_loc"),
                      let to = line.range(of: " to ") {
                location = UInt64(line[to.upperBound...].trimmingCharacters(in: .whitespaces), radix: 16) ?? location
            } else if let start = fdeStart, let open = line.range(of: "DW_CFA_def_cfa_expression (") {
                result[start, default: []].append((location, String(line[open.upperBound...].dropLast())))
            } else if let start = fdeStart, let open = line.range(of: "DW_CFA_expression: r6 (rbp) (") {
                result[start, default: []].append((location, "rbp: " + String(line[open.upperBound...].dropLast())))
            }
        }
        return result
    }

    /// "… FDE cie=00000000 pc=0000000000026000..0000000000026360" → (start, end).
    static func fdeRange(_ line: Substring) -> (start: UInt64, end: UInt64)? {
        guard line.contains(" FDE "), let pc = line.range(of: "pc=") else { return nil }
        let bounds = line[pc.upperBound...].components(separatedBy: "..")
        guard bounds.count == 2, let start = UInt64(bounds[0], radix: 16),
              let end = UInt64(bounds[1].trimmingCharacters(in: .whitespaces), radix: 16) else { return nil }
        return (start, end)
    }

    init(interpreted: String, expressions: [UInt64: [(UInt64, String)]], section: String) throws {
        // CIE offset → (is signal frame, its initial row as readelf prints it).
        var cies: [String: (signal: Bool, row: [String: String])] = [:]
        var currentCIE: String? = nil
        var current: FDE? = nil, currentSignal = false
        var columns: [String] = []
        var lastRow: [String: String] = [:]

        func finish() {
            guard var fde = current else { return }
            if fde.rows.isEmpty {
                // An FDE without instructions: readelf prints no table; the CIE's row holds.
                fde.rows = [(fde.start, Self.reduce(lastRow, signal: currentSignal, address: fde.start, fdeStart: fde.start, expressions: expressions))]
            }
            fdes.append(fde)
            current = nil
        }

        for line in Self.sectionLines(interpreted, section) {
            let fields = line.split(separator: " ")
            if fields.count >= 4, fields[3] == "CIE" {
                finish()
                let offset = String(fields[0])
                let augmentation = line.split(separator: "\"").dropFirst().first.map(String.init) ?? ""
                cies[offset] = (augmentation.contains("S"), [:])
                currentCIE = offset
                columns = []
                lastRow = [:]
            } else if let range = Self.fdeRange(line) {
                finish()
                currentCIE = nil
                guard let cieField = fields.first(where: { $0.hasPrefix("cie=") }),
                      let cie = cies[String(cieField.dropFirst(4))] else { throw ReferenceToolMissing(name: "readelf output with a known CIE: \(line)") }
                current = FDE(start: range.start, end: range.end, rows: [])
                currentSignal = cie.signal
                lastRow = cie.row
                columns = []
            } else if fields.first == "LOC" {
                columns = fields.map(String.init)
            } else if let first = fields.first, first.count == 16, let address = UInt64(first, radix: 16), !columns.isEmpty {
                // A register rule prints as two words, "r10 (r10)": join them.
                var values: [String] = []
                for field in fields.dropFirst() {
                    if field.hasPrefix("("), let last = values.popLast() { values.append(last + " " + field) } else { values.append(String(field)) }
                }
                var row: [String: String] = [:]
                for (name, value) in zip(columns.dropFirst(), values) { row[name] = value }
                lastRow = row
                if let cie = currentCIE {
                    cies[cie]?.row = row
                } else if current != nil {
                    let expected = Self.reduce(row, signal: currentSignal, address: address, fdeStart: current!.start, expressions: expressions)
                    current!.rows.append((address, expected))
                }
            }
        }
        finish()
    }

    /// The reduction `UnwindRowReduction` applies, on readelf's notation.
    static func reduce(_ row: [String: String], signal: Bool, address: UInt64, fdeStart: UInt64,
                       expressions: [UInt64: [(UInt64, String)]]) -> Expected {
        if signal { return .rule(.init(cfa: .signalFrame, framePointer: .unchanged)) }
        switch row["ra"] {
        case "u": return .rule(.init(cfa: .undefinedReturnAddress, framePointer: .unchanged))
        case "c-8": break
        default: return .unsupported("returnAddress")
        }
        guard let cfaText = row["CFA"] else { return .unsupported("cfaRegister") }
        let cfa: CFARule
        if cfaText == "exp" {
            let text = expressions[fdeStart]?.last(where: { $0.0 <= address && !$0.1.hasPrefix("rbp: ") })?.1 ?? ""
            guard let parsed = parseExpression(text) else { return .unsupported("cfaExpression") }
            cfa = parsed
        } else if let (register, offset) = registerPlusOffset(cfaText) {
            guard register == "rsp" || register == "rbp" else { return .unsupported("cfaRegister") }
            guard let k = Int32(exactly: offset) else { return .unsupported("offsetRange") }
            cfa = register == "rsp" ? .rsp(k) : .rbp(k)
        } else {
            return .unsupported("cfaRegister")
        }
        switch row["rbp"] {
        case nil, "u", "s": return .rule(.init(cfa: cfa, framePointer: .unchanged))
        case let text? where text.hasPrefix("c"):
            guard let k = Int64(text.dropFirst()), let k32 = Int32(exactly: k) else { return .unsupported("offsetRange") }
            return .rule(.init(cfa: cfa, framePointer: .atCFA(k32)))
        case "exp":
            // Only `DW_OP_breg6 k` (rbp saved at rbp + k) is supported.
            let text = expressions[fdeStart]?.last(where: { $0.0 <= address && $0.1.hasPrefix("rbp: ") })?.1 ?? ""
            let prefix = "rbp: DW_OP_breg6 (rbp): "
            guard text.hasPrefix(prefix), let k = Int32(text.dropFirst(prefix.count)) else { return .unsupported("framePointerRule") }
            return .rule(.init(cfa: cfa, framePointer: .atRBP(k)))
        default: return .unsupported("framePointerRule")
        }
    }

    /// "rsp+16" → ("rsp", 16); "r12-8" → ("r12", -8).
    static func registerPlusOffset(_ text: String) -> (String, Int64)? {
        guard let sign = text.firstIndex(where: { $0 == "+" || $0 == "-" }) else { return nil }
        guard let value = Int64(text[sign...].replacingOccurrences(of: "+", with: "")) else { return nil }
        return (String(text[..<sign]), value)
    }

    /// readelf's text of the PLT and deref expressions.
    static func parseExpression(_ text: String) -> CFARule? {
        let plt = "DW_OP_breg7 (rsp): 8; DW_OP_breg16 (rip): 0; DW_OP_lit15; DW_OP_and; DW_OP_lit"
        if text.hasPrefix(plt) {
            let rest = text.dropFirst(plt.count)
            guard let semicolon = rest.firstIndex(of: ";"), let threshold = UInt8(rest[..<semicolon]),
                  rest[semicolon...] == "; DW_OP_ge; DW_OP_lit3; DW_OP_shl; DW_OP_plus" else { return nil }
            return .plt(threshold: threshold)
        }
        let parts = text.components(separatedBy: "; ")
        guard parts.count == 2 || parts.count == 3, parts[1] == "DW_OP_deref" else { return nil }
        var k2: Int32 = 0
        if parts.count == 3 {
            guard parts[2].hasPrefix("DW_OP_plus_uconst: "), let value = Int32(parts[2].dropFirst("DW_OP_plus_uconst: ".count)) else { return nil }
            k2 = value
        }
        for (prefix, isRBP) in [("DW_OP_breg6 (rbp): ", true), ("DW_OP_breg7 (rsp): ", false)] where parts[0].hasPrefix(prefix) {
            guard let k1 = Int32(parts[0].dropFirst(prefix.count)) else { return nil }
            return isRBP ? .derefRBP(k1, k2) : .derefRSP(k1, k2)
        }
        return nil
    }
}
