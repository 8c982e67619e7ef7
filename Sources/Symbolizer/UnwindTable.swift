/// The unwind rules of one ELF file for x86_64, from `.eh_frame` and
/// `.debug_frame`, reduced to what a BPF stack walker can apply.
///
/// Rows are sorted by address and strictly increasing; each row lasts until the
/// next. An `invalid` row ends every FDE that is not followed directly by the
/// next one, so a lookup in a gap (or past the last FDE) answers `invalid`.
/// Consecutive rows with the same rule are merged. Storage is compact: an
/// address array, a 32-bit rule index per row and the distinct rules.
///
/// Look a caller's frame up at its return address − 1 (the call may be the last
/// instruction of its FDE), the leaf frame and a PC restored from a signal frame
/// at the PC itself. Build one with `UnwindTable.load(path:)`, `init(elf:debugFile:)`
/// or `init(ehFrame:ehFrameAddress:…)`.
public struct UnwindTable: Sendable, RandomAccessCollection {
    /// One distinct rule (a row without its address).
    public struct Rule: Sendable, Hashable {
        public var cfa: CFARule
        public var framePointer: FramePointerRule
        public init(cfa: CFARule, framePointer: FramePointerRule) {
            self.cfa = cfa
            self.framePointer = framePointer
        }
        static let invalid = Rule(cfa: .invalid, framePointer: .unchanged)
    }

    /// What building the table found and cost.
    public struct Statistics: Sendable, Equatable {
        /// FDEs whose rows are in the table, from `.eh_frame`.
        public var ehFrameFDEs = 0
        /// FDEs whose rows are in the table, from `.debug_frame` (ranges `.eh_frame` does not cover).
        public var debugFrameFDEs = 0
        /// `.debug_frame` FDEs left out because `.eh_frame` covers (part of) their range, or they start at 0.
        public var debugFrameFDEsSkipped = 0
        /// Go functions whose rows come from Go's function table (`.gopclntab`'s stack deltas).
        public var goFunctions = 0
        /// Go functions left out because `.eh_frame` covers their range (cgo).
        public var goFunctionsSkipped = 0
        /// FDEs left out, by why (their ranges have no rows).
        public var rejectedFDEs: [FDERejection: Int] = [:]
        /// Interpreted rows that became `invalid`, by why.
        public var unsupportedRows: [UnsupportedRowKind: Int] = [:]
        /// Rows the CFA programs produced, before merging.
        public var interpretedRows = 0
        /// Rows in the table (after merging; `invalid` gap rows included).
        public var rows = 0
        /// Distinct rules.
        public var rules = 0
        /// Bytes of call-frame sections read.
        public var sectionBytes = 0
        /// Bytes the table holds (addresses, rule indices, rules).
        public var tableBytes = 0
        /// Wall time to build the table (reading sections included when built from an ELF file).
        public var buildTime: Duration = .zero
        /// Where the information came from and what was skipped (e.g. "debug file /usr/lib/debug/…").
        public var notes: [String] = []

        /// FDEs in the table.
        public var fdes: Int { ehFrameFDEs + debugFrameFDEs }
        /// FDEs rejected, of every kind.
        public var rejectedFDECount: Int { rejectedFDEs.values.reduce(0, +) }
        /// Interpreted rows that were unsupported, of every kind.
        public var unsupportedRowCount: Int { unsupportedRows.values.reduce(0, +) }
    }

    /// Start address of each row, strictly increasing.
    public let addresses: [UInt64]
    /// Index into `rules` of each row's rule.
    public let ruleIndices: [UInt32]
    /// The distinct rules.
    public let rules: [Rule]
    public internal(set) var statistics: Statistics

    init(addresses: [UInt64], ruleIndices: [UInt32], rules: [Rule], statistics: Statistics) {
        self.addresses = addresses
        self.ruleIndices = ruleIndices
        self.rules = rules
        self.statistics = statistics
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { addresses.count }

    /// The row at `index` (0 ..< count).
    public subscript(index: Int) -> UnwindRow {
        let rule = rules[Int(ruleIndices[index])]
        return UnwindRow(address: addresses[index], cfa: rule.cfa, framePointer: rule.framePointer)
    }

    /// Every row, materialised (the table itself stores them more compactly).
    public var rows: [UnwindRow] { Array(self) }

    /// The index of the row covering `address`: the last row starting at or before it.
    public func index(for address: UInt64) -> Int? {
        var low = 0, high = addresses.count  // first index whose address is > address
        while low < high {
            let middle = low + (high - low) / 2
            if addresses[middle] <= address { low = middle + 1 } else { high = middle }
        }
        return low == 0 ? nil : low - 1
    }

    /// The row covering `address` (binary search): nil before the first row,
    /// an `invalid` row in a gap between FDEs or after the last one.
    public func row(for address: UInt64) -> UnwindRow? {
        index(for: address).map { self[$0] }
    }
}
