extension ELFFile {
    /// File offsets of the defined functions named in `names` (from `.dynsym`,
    /// then `.symtab`), as uprobes want them: the offset in the file of the
    /// function's first instruction, always inside the file. Names not found (or
    /// whose offset would lie outside the file) are absent from the result.
    public func functionFileOffsets(_ names: Set<String>) throws(ELFError) -> [String: UInt64] {
        var found: [String: UInt64] = [:]
        for wanted in [Self.sectionDynsym, Self.sectionSymtab] where found.count < names.count {
            guard let table = sections.first(where: { $0.type == wanted && $0.size > 0 }), Int(table.link) < sections.count else { continue }
            let strings = sections[Int(table.link)]
            guard strings.type != Self.sectionNobits, table.type != Self.sectionNobits,
                  table.size <= Self.maximumTableBytes, strings.size <= Self.maximumTableBytes else { continue }
            let symbols = LittleEndianBytes(try Self.readRange(source, offset: table.offset, size: table.size, what: "symbol table \(table.name)"))
            let text = try Self.readRange(source, offset: strings.offset, size: strings.size, what: "string table \(strings.name)")
            var at = 0
            while symbols.has(24, at: at) {
                defer { at += 24 }
                let type = symbols.u8(at + 4) & 0xf, section = symbols.u16(at + 6), value = symbols.u64(at + 8)
                // STT_FUNC or STT_GNU_IFUNC, defined here.
                guard type == 2 || type == 10, section != 0, value != 0 else { continue }
                let start = Int(symbols.u32(at))
                guard start < text.count else { continue }
                let end = text[start...].firstIndex(of: 0) ?? text.count
                var name = String(decoding: text[start..<end], as: UTF8.self)
                if let version = name.firstIndex(of: "@") { name = String(name[..<version]) }  // "getaddrinfo@@GLIBC_2.2.5"
                guard names.contains(name), found[name] == nil, let offset = fileOffset(forVirtualAddress: value) else { continue }
                found[name] = offset
            }
        }
        return found
    }

    /// The file offset of the byte loaded at `address`, through the PT_LOAD segment holding it;
    /// nil when no segment holds it or the offset lies outside the file (a hostile header).
    public func fileOffset(forVirtualAddress address: UInt64) -> UInt64? {
        for segment in segments where address >= segment.virtualAddress && address - segment.virtualAddress < max(segment.fileSize, 1) {
            // A hostile header can put the segment's offset near 2^64, or past the end of the
            // file: no offset then (uprobes at such offsets cannot exist), not a trap.
            let (offset, overflow) = (address - segment.virtualAddress).addingReportingOverflow(segment.fileOffset)
            return overflow || offset >= source.size ? nil : offset
        }
        return nil
    }
}
