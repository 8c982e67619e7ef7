import CBPF
import Symbolizer

/// One file's unwind table in the BPF layout of `bpf/unwind.h`: rows keyed by
/// `pc_low` (vaddr − `vaddrBase`) with file-local rule numbers, and the page index.
struct UnwindTableEncoding {
    /// Subtracted from ELF addresses to get `unwind_row.pc_low`.
    let vaddrBase: UInt64
    /// (pc_low, index into `UnwindTable.rules`) per row, ascending.
    let rows: [(pcLow: UInt32, rule: UInt32)]
    /// `unwind_pages` entries: for page i, the index (relative to the first row)
    /// of the last row starting at or before i << UNWIND_PAGE_SHIFT.
    let pages: [UInt32]

    /// Nil when the table is empty, too long for the row search, or spans more than 4 GiB.
    init?(_ table: UnwindTable) {
        guard let first = table.addresses.first, let last = table.addresses.last,
              table.addresses.count < 1 << Int(UNWIND_ROW_SEARCH_STEPS) else { return nil }
        let base = first & ~UInt64(0xfff)
        guard last - base <= UInt64(UInt32.max) else { return nil }
        vaddrBase = base
        rows = zip(table.addresses, table.ruleIndices).map { (UInt32(truncatingIfNeeded: $0 - base), $1) }
        let shift = UInt32(UNWIND_PAGE_SHIFT)
        let pageCount = Int((rows[rows.count - 1].pcLow >> shift) + 1)
        var pages = [UInt32](repeating: 0, count: pageCount)
        var row = 0
        for page in 0..<pageCount {
            let pageStart = UInt64(page) << UInt64(shift)
            while row + 1 < rows.count, UInt64(rows[row + 1].pcLow) <= pageStart { row += 1 }
            pages[page] = UInt64(rows[row].pcLow) <= pageStart ? UInt32(row) : 0
        }
        self.pages = pages
    }

    /// A rule as the BPF walker applies it; `.invalid` (frame pointers) for what it cannot.
    static func bpfRule(_ rule: UnwindTable.Rule) -> unwind_rule {
        var out = unwind_rule()
        switch rule.framePointer {
        case .unchanged: out.fp_kind = UInt8(UNWIND_FP_UNCHANGED.rawValue)
        case .atCFA(let k):
            out.fp_kind = UInt8(UNWIND_FP_SAVED.rawValue)
            out.fp_offset = k
        case .atRBP:
            return unwind_rule()  // rbp saved relative to rbp (DRAP frames): not applied in BPF
        }
        func kind(_ k: unwind_cfa_kind) -> UInt8 { UInt8(k.rawValue) }
        switch rule.cfa {
        case .rsp(let k): out.cfa_kind = kind(UNWIND_CFA_RSP); out.cfa_offset = k
        case .rbp(let k): out.cfa_kind = kind(UNWIND_CFA_RBP); out.cfa_offset = k
        case .derefRSP(let k1, let k2): out.cfa_kind = kind(UNWIND_CFA_DEREF_RSP); out.cfa_offset = k1; out.cfa_aux = k2
        case .derefRBP(let k1, let k2): out.cfa_kind = kind(UNWIND_CFA_DEREF_RBP); out.cfa_offset = k1; out.cfa_aux = k2
        case .plt(let threshold): out.cfa_kind = kind(UNWIND_CFA_PLT); out.cfa_aux = Int32(threshold)
        case .signalFrame: out.cfa_kind = kind(UNWIND_CFA_SIGNAL)
        case .undefinedReturnAddress: out.cfa_kind = kind(UNWIND_CFA_STOP)
        case .invalid: return unwind_rule()
        }
        return out
    }
}
