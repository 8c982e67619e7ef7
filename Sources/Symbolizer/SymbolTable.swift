/// Code and data symbols sorted by address. Names stay where they are: in the
/// binary's string table (read on demand, so a table costs 16 bytes per symbol
/// however long its names are: C++ and Swift names average 50–150 bytes), or,
/// for kallsyms, packed in one buffer.
///
/// Lookup follows `llvm-symbolizer`: the symbol with the greatest start
/// address ≤ the address wins; a sized symbol covers `[start, start+size)`,
/// an unsized one extends to the next symbol. Of several symbols at the same
/// address, the largest (then the later in the symbol table) is kept.
public struct SymbolTable: Sendable {
    /// Where the symbols came from.
    public enum Kind: String, Sendable {
        case symtab = ".symtab", dynsym = ".dynsym", kallsyms = "kallsyms", gopclntab = ".gopclntab", miniDebugInfo = ".gnu_debugdata", none = "none"
    }

    /// A symbol found by `lookup`.
    public struct Match: Sendable, Equatable {
        /// The raw (possibly mangled) name.
        public var name: String
        /// The symbol's start address.
        public var address: UInt64
    }

    struct Entry {
        var address: UInt64
        /// Bytes covered, 0 when unknown (saturated at 4 GiB).
        var size: UInt32
        /// Offset of the NUL-terminated name in `names`.
        var nameStart: UInt32
    }

    /// Where the names are: `nameStart` is an offset into these bytes.
    enum Names: Sendable {
        /// Packed in memory.
        case memory([UInt8])  // NUL-terminated names
        /// The string table at `offset` in a binary, read when a name is wanted.
        case stringTable(any ByteSource, offset: UInt64)
    }

    let entries: [Entry]
    let names: Names
    public let kind: Kind

    /// Number of distinct symbol addresses.
    public var count: Int { entries.count }

    /// Bytes held by the table (for memory accounting).
    public var byteCount: Int {
        if case .memory(let bytes) = names { return entries.count * MemoryLayout<Entry>.stride + bytes.count }
        return entries.count * MemoryLayout<Entry>.stride
    }

    init(entries unsorted: [Entry], names: Names, kind: Kind) {
        self.names = names
        self.kind = kind
        // Like llvm-symbolizer: by (address, size), ties in symbol-table order; the last of
        // each address wins (the largest, and of equal sizes the later one, e.g. D1 over D2).
        let sorted = unsorted.enumerated().sorted { a, b in
            if a.element.address != b.element.address { return a.element.address < b.element.address }
            if a.element.size != b.element.size { return a.element.size < b.element.size }
            return a.offset < b.offset
        }.map(\.element)
        var kept: [Entry] = []
        kept.reserveCapacity(sorted.count)
        for entry in sorted {
            if let last = kept.last, last.address == entry.address {
                kept[kept.count - 1] = entry
            } else {
                kept.append(entry)
            }
        }
        self.entries = kept
    }

    /// Builds the table from raw `Elf64_Sym` entries and their string table,
    /// found at `stringsOffset` in `source` (where names are read later).
    ///
    /// Keeps what llvm-symbolizer keeps: `STT_FUNC`, `STT_GNU_IFUNC`, `STT_OBJECT`
    /// and `STT_NOTYPE` symbols defined in an allocated section (`allocated[i]`),
    /// with a name that is not an ARM/AArch64 mapping symbol ("$a", "$d", "$t", "$x",
    /// alone or followed by "."). Swift's mangled names ("$s…") do start with "$".
    init(elfSymbols: [UInt8], strings: [UInt8], allocated: [Bool], kind: Kind, source: any ByteSource, stringsOffset: UInt64) {
        var entries: [Entry] = []
        let symbolCount = elfSymbols.count / 24
        entries.reserveCapacity(symbolCount / 2)
        elfSymbols.withUnsafeBytes { symbols in
            strings.withUnsafeBufferPointer { strtab in
                for i in 0..<symbolCount {
                    let at = i * 24
                    let info = symbols.load(fromByteOffset: at + 4, as: UInt8.self)
                    let type = info & 0xf
                    guard type <= 2 || type == 10 else { continue }  // NOTYPE, OBJECT, FUNC, GNU_IFUNC
                    let sectionIndex = Int(UInt16(littleEndian: symbols.loadUnaligned(fromByteOffset: at + 6, as: UInt16.self)))
                    guard sectionIndex != 0, sectionIndex < 0xff00, sectionIndex < allocated.count, allocated[sectionIndex] else { continue }
                    let nameOffset = Int(UInt32(littleEndian: symbols.loadUnaligned(fromByteOffset: at, as: UInt32.self)))
                    guard nameOffset < strtab.count, strtab[nameOffset] != 0, !Self.isMappingSymbol(strtab, at: nameOffset) else { continue }
                    let value = UInt64(littleEndian: symbols.loadUnaligned(fromByteOffset: at + 8, as: UInt64.self))
                    let size = UInt64(littleEndian: symbols.loadUnaligned(fromByteOffset: at + 16, as: UInt64.self))
                    guard nameOffset <= Int(UInt32.max) else { continue }
                    entries.append(Entry(address: value, size: UInt32(clamping: size), nameStart: UInt32(nameOffset)))
                }
            }
        }
        self.init(entries: entries, names: .stringTable(source, offset: stringsOffset), kind: kind)
    }

    /// "$a", "$d", "$t", "$x", optionally followed by ".suffix": code/data markers, not functions.
    static func isMappingSymbol(_ strtab: UnsafeBufferPointer<UInt8>, at offset: Int) -> Bool {
        guard strtab[offset] == 0x24, offset + 1 < strtab.count, [0x61, 0x64, 0x74, 0x78].contains(strtab[offset + 1]) else { return false }
        return offset + 2 >= strtab.count || strtab[offset + 2] == 0 || strtab[offset + 2] == 0x2e
    }

    /// The symbol covering `address`, if any.
    public func lookup(_ address: UInt64) -> Match? {
        guard let index = indexCovering(address) else { return nil }
        let entry = entries[index]
        return Match(name: name(of: entry), address: entry.address)
    }

    /// The start address of the symbol covering `address` (no name built).
    public func start(covering address: UInt64) -> UInt64? {
        entries.withUnsafeBufferPointer { entries in
            var low = 0, high = entries.count
            while low < high {
                let mid = (low + high) / 2
                if entries[mid].address <= address { low = mid + 1 } else { high = mid }
            }
            guard low > 0 else { return nil }
            let entry = entries[low - 1]
            return entry.size != 0 && address - entry.address >= UInt64(entry.size) ? nil : entry.address
        }
    }

    func indexCovering(_ address: UInt64) -> Int? {
        var low = 0, high = entries.count  // first index with start > address
        while low < high {
            let mid = (low + high) / 2
            if entries[mid].address <= address { low = mid + 1 } else { high = mid }
        }
        guard low > 0 else { return nil }
        let entry = entries[low - 1]
        if entry.size != 0 && address - entry.address >= UInt64(entry.size) { return nil }
        return low - 1
    }

    /// Longest name read from a string table.
    static let maximumNameBytes = 1 << 16

    /// The entry's name; "??" if the binary can no longer be read there.
    func name(of entry: Entry) -> String {
        switch names {
        case .memory(let bytes):
            return bytes.withUnsafeBufferPointer { all in
                let start = Int(entry.nameStart)
                var end = start
                while end < all.count && all[end] != 0 { end += 1 }
                return String(decoding: UnsafeBufferPointer(rebasing: all[start..<end]), as: UTF8.self)
            }
        case .stringTable(let source, let offset):
            var name: [UInt8] = [], at = offset + UInt64(entry.nameStart)
            while name.count < Self.maximumNameBytes, at < source.size {
                guard let chunk = try? source.read(offset: at, count: Int(min(256, source.size - at))) else { return "??" }
                if let end = chunk.firstIndex(of: 0) {
                    name += chunk[..<end]
                    break
                }
                name += chunk
                at += UInt64(chunk.count)
            }
            return String(decoding: name, as: UTF8.self)
        }
    }
}

extension SymbolTable {
    /// One table of the symbols of `tables` (the later wins at an address, as within a
    /// table), names copied into memory: their sources may be dropped.
    static func merging(_ tables: [SymbolTable], kind: Kind) -> SymbolTable {
        var entries: [Entry] = [], names: [UInt8] = []
        for table in tables {
            for entry in table.entries where names.count < Int(UInt32.max) {
                entries.append(Entry(address: entry.address, size: entry.size, nameStart: UInt32(names.count)))
                names += Array(table.name(of: entry).utf8) + [0]
            }
        }
        return SymbolTable(entries: entries, names: .memory(names), kind: kind)
    }
}
