extension UnwindTable {
    /// Fewer `.eh_frame` FDEs than this (musl's libc has 4) make `load` look for a
    /// separate debug file's `.debug_frame`.
    public static let fewFDEs = 8

    /// The table of raw call-frame sections. `ehFrameAddress` is the virtual address
    /// of `ehFrame`'s first byte (for `pcrel` pointers); `ehFrameHdrAddress` and
    /// `textAddress` are the bases of `datarel` and `textrel` pointers (FDEs using a
    /// base that is nil are rejected). `debugFrame` fills the ranges `.eh_frame` leaves.
    public init(ehFrame: [UInt8], ehFrameAddress: UInt64, ehFrameHdrAddress: UInt64? = nil, textAddress: UInt64? = nil,
                debugFrame: [UInt8]? = nil) {
        let started = ContinuousClock.now
        var sections = CallFrameSections()
        sections.ehFrame = (ehFrame, ehFrameAddress)
        sections.ehFrameHdrAddress = ehFrameHdrAddress
        sections.textAddress = textAddress
        sections.debugFrame = debugFrame
        self = Self.build(sections, debugSections: nil, go: nil, started: started)
    }

    /// The table of `elf`, with the `.debug_frame` of `debugFile` (its separate
    /// debug file, if known) filling what `elf`'s own sections leave uncovered.
    /// Throws only when the file cannot be read where its headers say.
    public init(elf: ELFFile, debugFile: ELFFile? = nil) throws(ELFError) {
        let started = ContinuousClock.now
        let sections = try elf.callFrameSections()
        let debugSections = try debugFile?.callFrameSections()
        self = Self.build(sections, debugSections: debugSections, go: GoFunctionTable.find(in: elf), started: started)
    }

    /// The table of the file at `path`. When it has no `.debug_frame` and fewer than
    /// `fewFDEs` `.eh_frame` FDEs, its separate debug file (found by build-id or
    /// `.gnu_debuglink` like `BinaryCache` does; `displayPath` and `root` as there) adds its `.debug_frame`.
    public static func load(path: String, displayPath: String? = nil, root: String = "",
                            debugFiles: DebugFileLocator = DebugFileLocator()) throws(ELFError) -> UnwindTable {
        let started = ContinuousClock.now
        let elf = try ELFFile(source: FileByteSource(path: path))
        let sections = try elf.callFrameSections()
        let go = GoFunctionTable.find(in: elf)
        var table = build(sections, debugSections: nil, go: go, started: started)
        guard go == nil else { return table }
        guard sections.debugFrame == nil, table.statistics.ehFrameFDEs < fewFDEs else { return table }
        let candidates = debugFiles.candidates(buildID: elf.buildIDHex, debugLink: elf.debugLink?.name,
                                               binaryPath: displayPath ?? path, root: root)
        for candidate in candidates {
            guard let source = try? FileByteSource(path: candidate), let debug = try? ELFFile(source: source) else { continue }
            if let want = elf.buildID, let have = debug.buildID, want != have { continue }
            guard let debugSections = try? debug.callFrameSections(), debugSections.debugFrame != nil else { continue }
            table = build(sections, debugSections: debugSections, go: nil, started: started)
            table.statistics.notes.append(".debug_frame from \(candidate)")
            break
        }
        return table
    }

    /// `go`: a Go binary's function table, whose stack deltas cover what `.eh_frame` does not
    /// (Go writes no `.eh_frame`; cgo's C code has one), before `.debug_frame` fills the rest.
    static func build(_ sections: CallFrameSections, debugSections: CallFrameSections?, go: GoFunctionTable?,
                      started: ContinuousClock.Instant) -> UnwindTable {
        var builder = UnwindTableBuilder()
        var covered: [Range<UInt64>] = []
        if let eh = sections.ehFrame {
            let bases = PointerEncoding.Bases(section: eh.address, text: sections.textAddress, data: sections.ehFrameHdrAddress)
            covered = builder.addEHFrame(CFISection(bytes: eh.bytes, format: .ehFrame, bases: bases))
        }
        if let go {
            covered = (covered + builder.addGoFunctions(go, covered: covered)).sorted { $0.lowerBound < $1.lowerBound }
        }
        var notes = sections.skipped
        if let debug = sections.debugFrame ?? debugSections?.debugFrame {
            // Addresses in .debug_frame are absolute: no base is needed.
            builder.addDebugFrame(CFISection(bytes: debug, format: .debugFrame, bases: .init(section: 0)), covered: covered)
        }
        notes += debugSections?.skipped ?? []
        var table = builder.build(started: started)
        table.statistics.notes = notes
        return table
    }
}
