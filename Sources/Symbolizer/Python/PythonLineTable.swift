/// Line numbers of CPython bytecode: a decoder of code objects' line tables.
///
/// The agent reads a code object's line table, its `co_firstlineno` and a
/// frame's instruction offset out of another process's memory, so every input
/// is untrusted: decoding is one forward pass over the table (O(n), no
/// allocation), never traps, and answers `nil` wherever the table does not
/// define a line.
///
/// Instruction offsets are always in code units (the 2-byte `_Py_CODEUNIT`
/// of CPython 3.6+); formats that count bytes are converted internally.
public enum PythonLineTable {
    /// The layout of a code object's line table, which changed across CPython releases.
    public enum Format: Sendable, Hashable, CaseIterable {
        /// `co_lnotab` (CPython 3.6 to 3.9): pairs of (bytecode byte increment,
        /// unsigned; line increment, signed byte).
        case lnotab38
        /// `co_linetable` of CPython 3.10: pairs of (end-of-range byte delta,
        /// unsigned; line delta, signed byte, -128 meaning "no line").
        case linetable310
        /// `co_linetable` of CPython 3.11+, the locations table: variable-length
        /// entries, each covering 1 to 8 code units.
        case locations311
    }

    /// The line table format of CPython `major.minor`, or nil for versions
    /// whose format is unknown (2.x, 3.0 to 3.5, and releases after 3.14).
    public static func format(major: Int, minor: Int) -> Format? {
        guard major == 3 else { return nil }
        switch minor {
        case 6...9: return .lnotab38
        case 10: return .linetable310
        case 11...14: return .locations311
        default: return nil
        }
    }

    /// The source line of the instruction at code unit `offset` of a code object
    /// whose `co_firstlineno` is `firstLine` and whose line table is `table`.
    ///
    /// Returns nil for a negative offset, an offset the table does not cover
    /// (3.10+; `co_lnotab` has no end, so there the last line extends to the end
    /// of the code, as in CPython), an instruction without a line, a malformed
    /// table, or a line outside `0...Int32.max`.
    public static func line(forCodeUnit offset: Int, firstLine: Int, table: [UInt8], format: Format) -> Int? {
        guard offset >= 0 else { return nil }
        let line: Int?
        switch format {
        case .lnotab38: line = lnotabLine(byteOffset: byteOffset(offset), firstLine: firstLine, table: table)
        case .linetable310: line = linetableLine(byteOffset: byteOffset(offset), firstLine: firstLine, table: table)
        case .locations311: line = locationsLine(codeUnit: offset, firstLine: firstLine, table: table)
        }
        guard let line, line >= 0, line <= Int(Int32.max) else { return nil }
        return line
    }

    /// `offset` code units in bytes (clamped: no table reaches Int.max bytes).
    private static func byteOffset(_ offset: Int) -> Int {
        let (bytes, overflow) = offset.multipliedReportingOverflow(by: 2)
        return overflow ? Int.max : bytes
    }

    /// 3.6 to 3.9, as `PyCode_Addr2Line`: add each pair's line increment while
    /// the address it starts at is not past the offset (a trailing odd byte is ignored).
    private static func lnotabLine(byteOffset target: Int, firstLine: Int, table: [UInt8]) -> Int? {
        var line = firstLine
        var address = 0
        var index = 0
        while index + 1 < table.count {
            address &+= Int(table[index])
            if address > target { break }
            line &+= Int(Int8(bitPattern: table[index + 1]))
            index += 2
        }
        return line
    }

    /// 3.10: each pair ends a byte range; the line delta applies to it unless it is -128
    /// ("no line"). Empty ranges only carry line deltas (lines more than 127 apart).
    private static func linetableLine(byteOffset target: Int, firstLine: Int, table: [UInt8]) -> Int? {
        var line = firstLine
        var end = 0
        var index = 0
        while index + 1 < table.count {
            end &+= Int(table[index])
            let delta = Int8(bitPattern: table[index + 1])
            let hasLine = delta != -128
            if hasLine { line &+= Int(delta) }
            if target < end { return hasLine ? line : nil }
            index += 2
        }
        return nil
    }

    /// 3.11+: an entry is a byte with bit 7 set (bits 3-6 the code, bits 0-2 the
    /// length - 1 in code units) then payload bytes with bit 7 clear.
    private static func locationsLine(codeUnit target: Int, firstLine: Int, table: [UInt8]) -> Int? {
        guard let first = table.first, first & 0x80 != 0 else { return nil }
        var line = firstLine
        var end = 0
        var index = 0
        while index < table.count {
            let head = table[index]
            var next = index + 1
            while next < table.count && table[next] & 0x80 == 0 { next += 1 }
            end &+= Int(head & 7) + 1
            let code = (head >> 3) & 15
            var hasLine = true
            switch code {
            case 15: hasLine = false  // no location
            case 13, 14:  // no columns, long form: the line delta is the first (signed) varint
                guard let delta = signedVarint(table, from: index + 1, to: next) else { return nil }
                line &+= delta
            case 10...12: line &+= Int(code) - 10  // one-line forms
            default: break  // short forms 0-9: same line
            }
            if target < end { return hasLine ? line : nil }
            index = next
        }
        return nil
    }

    /// A locations-table signed varint in `table[from..<limit]`: an unsigned varint
    /// (6-bit chunks, least significant first, bit 6 set when more follow) whose
    /// low bit is the sign. Nil when truncated or longer than 6 chunks (CPython
    /// writes at most 32 bits).
    private static func signedVarint(_ table: [UInt8], from start: Int, to limit: Int) -> Int? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        var index = start
        while index < limit {
            let byte = table[index]
            value |= UInt64(byte & 63) << shift
            if byte & 64 == 0 {
                let magnitude = Int(value >> 1)
                return value & 1 != 0 ? -magnitude : magnitude
            }
            shift += 6
            if shift > 30 { return nil }
            index += 1
        }
        return nil
    }
}
