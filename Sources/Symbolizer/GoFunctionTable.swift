/// Go's function table (`.gopclntab`, the runtime's own symbol table): function
/// names, source lines and inlined calls of a Go binary, present even when it was
/// linked with `-ldflags="-s -w"` (no `.symtab`, no DWARF), as most Go images are.
///
/// Formats: Go 1.2–1.15, 1.16–1.17, 1.18–1.19 and 1.20+ (the header's magic says
/// which). The table is read where it lies in the file: only its header and the
/// function index are held (12 bytes per function); records, names and pc-value
/// tables are read when an address is looked up. Every offset the table declares is
/// checked against the table's bounds; a table that contradicts itself is refused.
public struct GoFunctionTable: Sendable {
    /// The table layout, named by the first Go release that wrote it.
    public enum Format: String, Sendable {
        case go12 = "1.2", go116 = "1.16", go118 = "1.18", go120 = "1.20"
    }

    /// A frame at an address: the function, innermost first when calls were inlined.
    public struct SourceFrame: Sendable, Equatable {
        /// Go's full name ("main.parse", "net/http.(*conn).serve").
        public var function: String
        /// Source file, "" when the table does not say.
        public var file: String
        /// Source line, 0 when unknown.
        public var line: Int
    }

    public let format: Format
    let source: any ByteSource
    /// File offset and size of the table.
    let base: UInt64, size: UInt64
    let quantum: UInt64, pointerSize: Int
    /// File offsets (relative to `base`) of the name, compilation-unit, file and pc-value tables.
    let nameTable: UInt64, unitTable: UInt64, fileTable: UInt64, valueTable: UInt64
    /// Function entry addresses (ELF virtual addresses), ascending; one more than there are
    /// functions: the last is the end of the text.
    let entries: [UInt64]
    /// Offset (relative to `base`) of each function's record.
    let records: [UInt32]
    /// File offset of the inline trees' base (`go:func.*`, Go 1.18+), nil when not found.
    let inlineBase: UInt64?

    /// Functions more than this are refused (Kubernetes' largest binaries have ~100 k).
    public static let maximumFunctions = 1 << 22
    /// Inlined calls followed at one address.
    static let maximumInlineDepth = 32
    static let pcDataInlineIndex = 2, funcDataInlineTree = 3

    /// Number of functions.
    public var count: Int { records.count }

    /// Bytes held (for memory accounting).
    public var byteCount: Int { entries.count * 8 + records.count * 4 }

    /// Parses the table at file offset `offset` (`size` bytes) of `elf`.
    init(elf: ELFFile, offset: UInt64, size: UInt64) throws(ELFError) {
        let source = elf.source
        guard size >= 16, offset <= source.size, size <= source.size - offset else { throw .truncated(".gopclntab at \(offset)+\(size)") }
        let head = LittleEndianBytes(try source.read(offset: offset, count: Int(min(size, 128))))
        let format: Format
        switch head.u32(0) {
        case 0xffff_fffb: format = .go12
        case 0xffff_fffa: format = .go116
        case 0xffff_fff0: format = .go118
        case 0xffff_fff1: format = .go120
        default: throw .malformed(".gopclntab: unknown magic 0x\(String(head.u32(0), radix: 16))")
        }
        let quantum = head.u8(6), pointerSize = Int(head.u8(7))
        guard head.u16(4) == 0, [1, 2, 4].contains(quantum), pointerSize == 8 || pointerSize == 4 else {
            throw .malformed(".gopclntab: bad header (quantum \(quantum), pointer size \(pointerSize))")
        }
        func word(_ index: Int) -> UInt64 {
            let at = 8 + index * pointerSize
            return pointerSize == 8 ? head.u64(at) : UInt64(head.u32(at))
        }
        let functionCount = word(0)
        guard functionCount > 0, functionCount <= UInt64(Self.maximumFunctions) else { throw .malformed(".gopclntab: \(functionCount) functions") }
        let n = Int(functionCount)
        var textStart: UInt64 = 0
        var tables: (names: UInt64, units: UInt64, files: UInt64, values: UInt64, functions: UInt64)
        switch format {
        case .go12:
            tables = (0, 0, 0, 0, UInt64(8 + pointerSize))
        case .go116:
            tables = (word(2), word(3), word(4), word(5), word(6))
        case .go118, .go120:
            textStart = word(2)
            tables = (word(3), word(4), word(5), word(6), word(7))
        }
        for (what, at) in [("names", tables.names), ("units", tables.units), ("files", tables.files), ("values", tables.values), ("functions", tables.functions)]
        where at >= size {
            throw .malformed(".gopclntab: \(what) table at \(at) beyond its \(size) bytes")
        }
        // The function index: (entry, record offset) pairs and the end of the text.
        let pairBytes = format == .go118 || format == .go120 ? 8 : 2 * pointerSize
        let indexBytes = UInt64(n) * UInt64(pairBytes) + UInt64(pairBytes / 2)
        guard indexBytes <= size - tables.functions else { throw .truncated(".gopclntab: index of \(n) functions") }
        let index = LittleEndianBytes(try source.read(offset: offset + tables.functions, count: Int(indexBytes)))
        var entries: [UInt64] = [], records: [UInt32] = []
        entries.reserveCapacity(n + 1)
        records.reserveCapacity(n)
        // Record offsets are relative to the index (1.16+) or to the table (1.2).
        let recordBase = format == .go12 ? 0 : tables.functions
        for i in 0...n {
            let entry: UInt64, record: UInt64
            if pairBytes == 8 {
                entry = textStart &+ UInt64(index.u32(i * 8))
                record = UInt64(index.u32(i * 8 + 4))
            } else if pointerSize == 8 {
                entry = index.u64(i * 16)
                record = index.u64(i * 16 + 8)
            } else {
                entry = UInt64(index.u32(i * 8))
                record = UInt64(index.u32(i * 8 + 4))
            }
            if let last = entries.last, entry < last { throw .malformed(".gopclntab: function \(i) starts before function \(i - 1)") }
            entries.append(entry)
            guard i < n else { break }
            let at = recordBase &+ record
            guard at < size, at <= UInt64(UInt32.max) else { throw .malformed(".gopclntab: record of function \(i) beyond the table") }
            records.append(UInt32(at))
        }
        if format == .go12 {
            // 1.2: the file table's offset follows the index.
            let at = offset + tables.functions + indexBytes
            guard at + 4 <= offset + size else { throw .truncated(".gopclntab: file table offset") }
            tables.files = UInt64(LittleEndianBytes(try source.read(offset: at, count: 4)).u32(0))
        }
        self.format = format
        self.source = source
        self.base = offset
        self.size = size
        self.quantum = UInt64(quantum)
        self.pointerSize = pointerSize
        self.nameTable = tables.names
        self.unitTable = tables.units
        self.fileTable = tables.files
        self.valueTable = tables.values
        self.entries = entries
        self.records = records
        self.inlineBase = format == .go118 || format == .go120
            ? Self.inlineBase(elf: elf, tableAddress: elf.virtualAddress(forFileOffset: offset), nameTable: tables.names, format: format)
            : nil
    }

    /// The functions as a symbol table (names read from the binary when looked up).
    public func symbolTable() -> SymbolTable {
        var out: [SymbolTable.Entry] = []
        out.reserveCapacity(records.count)
        for i in records.indices {
            guard let nameOffset = try? record(i).nameOffset, nameOffset <= UInt64(UInt32.max) else { continue }
            let size = entries[i + 1] - entries[i]
            out.append(SymbolTable.Entry(address: entries[i], size: UInt32(clamping: max(size, 1)), nameStart: UInt32(nameOffset)))
        }
        return SymbolTable(entries: out, names: .stringTable(source, offset: base + nameTable), kind: .gopclntab)
    }

    /// The frames at ELF virtual address `address`, innermost first: the calls inlined
    /// there (Go 1.18+), then the function itself. Empty when no function covers it.
    public func frames(at address: UInt64) -> [SourceFrame] {
        guard let index = functionIndex(covering: address), let record = try? record(index) else { return [] }
        var frames: [SourceFrame] = []
        var pc = address
        if let inlineBase, let tree = record.inlineTree, record.inlineIndexTable != 0 {
            let entrySize: UInt64 = format == .go120 ? 16 : 20
            while frames.count < Self.maximumInlineDepth,
                  let slot = value(record.inlineIndexTable, at: pc, entry: record.entry), slot >= 0 {
                let at = inlineBase &+ UInt64(tree) &+ UInt64(slot) &* entrySize
                guard let call = try? LittleEndianBytes(source.read(offset: at, count: Int(entrySize))) else { break }
                // 1.20+: funcID, pad[3], nameOff, parentPc, startLine; 1.18–1.19: parent, funcID, pad, file, line, func, parentPc.
                let (nameOffset, parentPC) = format == .go120 ? (call.u32(4), call.u32(8)) : (call.u32(12), call.u32(16))
                frames.append(SourceFrame(function: name(at: UInt64(nameOffset)), file: "", line: 0))
                fillLine(&frames[frames.count - 1], record: record, pc: pc)
                let parent = record.entry &+ UInt64(parentPC)
                guard parent != pc, parent >= record.entry, parent < entries[index + 1] else { break }
                pc = parent
            }
        }
        var outer = SourceFrame(function: name(at: record.nameOffset), file: "", line: 0)
        fillLine(&outer, record: record, pc: pc)
        frames.append(outer)
        return frames
    }

    /// The function (outermost, as `go tool addr2line` names it) and the source line of
    /// the innermost inlined call at `address`.
    public func function(at address: UInt64) -> SourceFrame? {
        let frames = frames(at: address)
        guard var outer = frames.last, let inner = frames.first else { return nil }
        outer.file = inner.file
        outer.line = inner.line
        return outer
    }

    func functionIndex(covering address: UInt64) -> Int? {
        var low = 0, high = records.count
        while low < high {
            let mid = (low + high) / 2
            if entries[mid] <= address { low = mid + 1 } else { high = mid }
        }
        guard low > 0, address < entries[low] else { return nil }
        return low - 1
    }

    /// What a function's record says.
    struct Record {
        /// The function's first instruction (ELF virtual address).
        var entry: UInt64
        var nameOffset: UInt64
        var fileTable: UInt32, lineTable: UInt32
        /// pc-value table of the stack pointer's distance below the entry's (bytes).
        var stackTable: UInt32
        var unit: UInt32
        /// pc-value table of inline-tree slots (0: none), and the tree's offset from `inlineBase`.
        var inlineIndexTable: UInt32
        var inlineTree: UInt32?
    }

    /// The record of function `function` (an index into `records`).
    func record(_ function: Int) throws(ELFError) -> Record {
        let at = base + UInt64(records[function])
        let bytes = LittleEndianBytes(try source.read(offset: at, count: Int(min(UInt64(256), base + size - at))))
        let p = pointerSize
        switch format {
        case .go12:
            return Record(entry: entries[function], nameOffset: UInt64(bytes.u32(p)), fileTable: bytes.u32(p + 16), lineTable: bytes.u32(p + 20),
                          stackTable: bytes.u32(p + 12), unit: 0, inlineIndexTable: 0, inlineTree: nil)
        case .go116:
            return Record(entry: entries[function], nameOffset: UInt64(bytes.u32(p)), fileTable: bytes.u32(p + 16), lineTable: bytes.u32(p + 20),
                          stackTable: bytes.u32(p + 12), unit: bytes.u32(p + 28), inlineIndexTable: 0, inlineTree: nil)
        case .go118, .go120:
            let fixed = format == .go120 ? 44 : 40
            let valueCount = Int(bytes.u32(28)), dataCount = Int(bytes.u8(fixed - 1))
            let inlineIndex = valueCount > Self.pcDataInlineIndex && fixed + 4 * valueCount <= 256 ? bytes.u32(fixed + 4 * Self.pcDataInlineIndex) : 0
            let treeAt = fixed + 4 * valueCount + 4 * Self.funcDataInlineTree
            let tree = dataCount > Self.funcDataInlineTree && treeAt + 4 <= bytes.count ? bytes.u32(treeAt) : UInt32.max
            return Record(entry: entries[function], nameOffset: UInt64(bytes.u32(4)),
                          fileTable: bytes.u32(20), lineTable: bytes.u32(24), stackTable: bytes.u32(16), unit: bytes.u32(32),
                          inlineIndexTable: inlineIndex, inlineTree: tree == UInt32.max ? nil : tree)
        }
    }
}
