/// Builds an `UnwindTable` from call-frame sections: interprets every FDE,
/// reduces its rows, prefers `.eh_frame`, fills the ranges it does not cover
/// from `.debug_frame`, then orders, closes, merges and de-duplicates the rows.
struct UnwindTableBuilder {
    /// The FDEs of one section, interpreted.
    private struct Segment {
        var start: UInt64
        var end: UInt64
        var rows: Range<Int>
    }

    private var rows: [(address: UInt64, rule: UnwindTable.Rule)] = []
    private var segments: [Segment] = []
    private(set) var statistics = UnwindTable.Statistics()

    /// Adds the FDEs of `.eh_frame`; returns the ranges they cover (sorted), rejected ones included.
    mutating func addEHFrame(_ section: CFISection) -> [Range<UInt64>] {
        statistics.sectionBytes += section.bytes.count
        var covered: [Range<UInt64>] = []
        add(section) { fde in
            covered.append(fde.start..<fde.end)
            return true
        } added: { statistics in statistics.ehFrameFDEs += 1 }
        covered.sort { $0.lowerBound < $1.lowerBound }
        return covered
    }

    /// Adds the FDEs of `.debug_frame` whose ranges do not overlap `covered`.
    mutating func addDebugFrame(_ section: CFISection, covered: [Range<UInt64>]) {
        statistics.sectionBytes += section.bytes.count
        // coveredEnd[i]: the largest end of covered[0...i] (ranges may nest).
        var coveredEnd: [UInt64] = []
        coveredEnd.reserveCapacity(covered.count)
        for range in covered { coveredEnd.append(max(coveredEnd.last ?? 0, range.upperBound)) }
        var skipped = 0
        add(section) { fde in
            // The last covered range starting before this FDE ends.
            var low = 0, high = covered.count
            while low < high {
                let middle = low + (high - low) / 2
                if covered[middle].lowerBound < fde.end { low = middle + 1 } else { high = middle }
            }
            let overlaps = low > 0 && coveredEnd[low - 1] > fde.start
            if overlaps || fde.start == 0 { skipped += 1 }  // start 0: a function discarded at link time
            return !overlaps && fde.start != 0
        } added: { statistics in statistics.debugFrameFDEs += 1 }
        statistics.debugFrameFDEsSkipped += skipped
    }

    /// Adds Go's functions (stack-pointer deltas from its function table) whose ranges do
    /// not overlap `covered` (sorted): CFA = rsp + delta + 8, the caller's rbp saved at
    /// CFA−16 wherever the frame is allocated (Go's amd64 frame layout), returns the ranges added.
    mutating func addGoFunctions(_ table: GoFunctionTable, covered: [Range<UInt64>]) -> [Range<UInt64>] {
        var added: [Range<UInt64>] = []
        var next = 0
        table.forEachStackDelta { function, runs in
            while next < covered.count, covered[next].upperBound <= function.lowerBound { next += 1 }
            if next < covered.count, covered[next].lowerBound < function.upperBound {
                statistics.goFunctionsSkipped += 1
                return
            }
            let first = rows.count
            for run in runs where run.delta >= 0 && run.delta < Int32.max - 8 {
                rows.append((run.address, UnwindTable.Rule(cfa: .rsp(run.delta + 8), framePointer: run.delta > 0 ? .atCFA(-16) : .unchanged)))
            }
            statistics.interpretedRows += rows.count - first
            segments.append(Segment(start: function.lowerBound, end: function.upperBound, rows: first..<rows.count))
            statistics.goFunctions += 1
            added.append(function)
        }
        return added
    }

    private mutating func add(_ section: CFISection, keep: (FrameDescriptionEntry) -> Bool,
                              added: (inout UnwindTable.Statistics) -> Void) {
        section.forEachFDE { result in
            switch result {
            case .failure(let rejection):
                statistics.rejectedFDEs[rejection, default: 0] += 1
            case .success(let (fde, cie)):
                guard fde.start < fde.end, keep(fde) else { return }
                do throws(FDERejection) {
                    let interpreted = try CFAProgram(section: section, cie: cie).rows(of: fde)
                    let first = rows.count
                    for row in interpreted {
                        let reduced = UnwindRowReduction.reduce(row.state, signalFrame: cie.isSignalFrame, bytes: section.bytes)
                        if let kind = reduced.unsupported { statistics.unsupportedRows[kind, default: 0] += 1 }
                        rows.append((row.address, UnwindTable.Rule(cfa: reduced.cfa, framePointer: reduced.framePointer)))
                    }
                    statistics.interpretedRows += interpreted.count
                    segments.append(Segment(start: fde.start, end: fde.end, rows: first..<rows.count))
                    added(&statistics)
                } catch {
                    statistics.rejectedFDEs[error, default: 0] += 1
                }
            }
        }
    }

    /// The table: FDEs in address order (a later-starting FDE cuts an overlapping
    /// one short), an `invalid` row where an FDE ends and the next does not start,
    /// consecutive equal rules merged, rules de-duplicated.
    consuming func build(started: ContinuousClock.Instant) -> UnwindTable {
        let order = segments.indices.sorted {
            (segments[$0].start, $0) < (segments[$1].start, $1)
        }
        var ordered: [(address: UInt64, rule: UnwindTable.Rule)] = []
        ordered.reserveCapacity(rows.count + segments.count)
        for index in order {
            let segment = segments[index]
            while let last = ordered.last, last.address >= segment.start { ordered.removeLast() }
            ordered.append(contentsOf: rows[segment.rows])
            ordered.append((segment.end, .invalid))
        }
        rows = []

        var addresses: [UInt64] = [], ruleIndices: [UInt32] = [], rules: [UnwindTable.Rule] = []
        var indexOfRule: [UnwindTable.Rule: UInt32] = [:]
        var previous: UnwindTable.Rule? = nil
        for row in ordered where row.rule != previous {
            previous = row.rule
            let index: UInt32
            if let known = indexOfRule[row.rule] {
                index = known
            } else {
                index = UInt32(clamping: rules.count)
                indexOfRule[row.rule] = index
                rules.append(row.rule)
            }
            addresses.append(row.address)
            ruleIndices.append(index)
        }
        statistics.rows = addresses.count
        statistics.rules = rules.count
        statistics.tableBytes = addresses.count * 8 + ruleIndices.count * 4 + rules.count * MemoryLayout<UnwindTable.Rule>.stride
        statistics.buildTime = ContinuousClock.now - started
        return UnwindTable(addresses: addresses, ruleIndices: ruleIndices, rules: rules, statistics: statistics)
    }
}
