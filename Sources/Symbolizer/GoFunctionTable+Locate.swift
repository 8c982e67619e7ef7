extension GoFunctionTable {
    /// Bytes of segments searched for the table's magic or the module data, at most.
    static let maximumSearchBytes: UInt64 = 256 << 20
    static let magics: [UInt32] = [0xffff_fff1, 0xffff_fff0, 0xffff_fffa, 0xffff_fffb]

    /// The Go function table of `elf`: the `.gopclntab` section (`.data.rel.ro.gopclntab`
    /// in a PIE), else, when the section headers are gone, the first place in a
    /// non-executable segment where a well-formed table starts. Nil for binaries
    /// that are not Go (or whose table is malformed).
    public static func find(in elf: ELFFile) -> GoFunctionTable? {
        if let section = elf.sections.first(where: { ($0.name == ".gopclntab" || $0.name == ".data.rel.ro.gopclntab") && $0.type != ELFFile.sectionNobits }) {
            return try? GoFunctionTable(elf: elf, offset: section.offset, size: section.size)
        }
        // With section headers, a Go binary has the section: no need to search.
        guard elf.sections.isEmpty else { return nil }
        var searched: UInt64 = 0
        for segment in elf.segments where !segment.isExecutable && segment.fileSize >= 64 {
            guard searched < maximumSearchBytes else { break }
            let length = min(segment.fileSize, maximumSearchBytes - searched)
            searched += length
            var found: GoFunctionTable?
            scan(elf.source, from: segment.fileOffset, length: length, alignment: 8) { chunk, index, fileOffset in
                guard magics.contains(LittleEndianBytes(chunk).u32(index)), chunk.count - index >= 8, chunk[index + 4] == 0, chunk[index + 5] == 0,
                      let table = try? GoFunctionTable(elf: elf, offset: fileOffset, size: segment.fileOffset + segment.fileSize - fileOffset)
                else { return false }
                found = table
                return true
            }
            if let found { return found }
        }
        return nil
    }

    /// Visits every `alignment`-aligned position of `length` bytes at `from`, in 1 MiB
    /// chunks (each read with 64 bytes of the next), until `visit` returns true.
    static func scan(_ source: any ByteSource, from: UInt64, length: UInt64, alignment: Int,
                     _ visit: (_ chunk: [UInt8], _ index: Int, _ fileOffset: UInt64) -> Bool) {
        let step: UInt64 = 1 << 20
        var at = from
        let end = min(from + length, source.size)
        while at < end {
            let count = Int(min(step + 64, end - at))
            guard let chunk = try? source.read(offset: at, count: count) else { return }
            var index = Int((UInt64(alignment) - at % UInt64(alignment)) % UInt64(alignment))
            let limit = min(count, Int(step))
            while index < limit {
                if visit(chunk, index, at + UInt64(index)) { return }
                index += alignment
            }
            at += step
        }
    }

    /// The file offset of `go:func.*`, which inline trees are relative to (Go 1.18+): read
    /// from the runtime's module data, found in a writable segment as the words
    /// (table address, table address + name-table offset) it starts with.
    static func inlineBase(elf: ELFFile, tableAddress: UInt64?, nameTable: UInt64, format: Format) -> UInt64? {
        guard let tableAddress else { return nil }
        // moduledata: pcHeader, 6 slices, findfunctab, minpc, maxpc, 10 section bounds,
        // (1.20+: covctrs, ecovctrs), end, gcdata, gcbss, types, etypes, rodata, gofunc.
        let goFuncAt = format == .go120 ? 320 : 304
        var regions: [(offset: UInt64, size: UInt64)] = elf.sections.filter { $0.name == ".noptrdata" && $0.type != ELFFile.sectionNobits }.map { ($0.offset, $0.size) }
        if regions.isEmpty {
            regions = elf.segments.filter { !$0.isExecutable }.map { ($0.fileOffset, $0.fileSize) }
        }
        var found: UInt64?
        var searched: UInt64 = 0
        for region in regions where found == nil && searched < maximumSearchBytes {
            let length = min(region.size, maximumSearchBytes - searched)
            searched += length
            scan(elf.source, from: region.offset, length: length, alignment: 8) { chunk, index, fileOffset in
                let words = LittleEndianBytes(chunk)
                guard words.u64(index) == tableAddress, words.u64(index + 8) == tableAddress &+ nameTable,
                      let raw = try? elf.source.read(offset: fileOffset + UInt64(goFuncAt), count: 8) else { return false }
                let goFunc = LittleEndianBytes(raw).u64(0)
                guard goFunc != 0, let offset = elf.fileOffset(forVirtualAddress: goFunc) else { return false }
                found = offset
                return true
            }
        }
        return found
    }
}
