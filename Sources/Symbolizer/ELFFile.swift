/// The parts of a 64-bit little-endian ELF image a symbolizer needs: loadable
/// segments (to turn file offsets into virtual addresses), sections, the GNU
/// build-id, the `.gnu_debuglink`, and the function symbols.
///
/// Every offset and size in the image is checked against the image size, so a
/// truncated or corrupted file throws `ELFError` instead of trapping.
public struct ELFFile: Sendable {
    /// A `PT_LOAD` program header.
    public struct LoadSegment: Sendable, Equatable {
        public var fileOffset: UInt64
        public var virtualAddress: UInt64
        public var fileSize: UInt64
        public var memorySize: UInt64
        public var isExecutable: Bool
    }

    /// A section header with its resolved name.
    public struct Section: Sendable {
        public var name: String
        public var type: UInt32
        public var flags: UInt64
        public var address: UInt64
        public var offset: UInt64
        public var size: UInt64
        public var link: UInt32
        public var entrySize: UInt64
    }

    public static let typeExecutable: UInt16 = 2
    public static let typeSharedObject: UInt16 = 3

    public let source: any ByteSource
    /// `e_type`: 2 executable (non-PIE), 3 shared object or PIE.
    public let type: UInt16
    public let machine: UInt16
    public let segments: [LoadSegment]
    public let sections: [Section]
    /// The `NT_GNU_BUILD_ID` note, when present.
    public let buildID: [UInt8]?
    /// The `.gnu_debuglink` file name and CRC, when present.
    public let debugLink: (name: String, crc: UInt32)?

    /// Largest symbol or string table read (bounds memory on hostile files).
    public static let maximumTableBytes: UInt64 = 512 << 20

    static let sectionSymtab: UInt32 = 2
    static let sectionStrtab: UInt32 = 3
    static let sectionNote: UInt32 = 7
    static let sectionNobits: UInt32 = 8
    static let sectionDynsym: UInt32 = 11

    /// Parses the headers of the image in `source`.
    public init(source: any ByteSource) throws(ELFError) {
        self.source = source
        guard source.size >= 64 else {
            if source.size >= 4, try source.read(offset: 0, count: 4) == [0x7f, 0x45, 0x4c, 0x46] {
                throw .truncated("the \(source.size)-byte image is shorter than an ELF header")
            }
            throw .notELF
        }
        let header = LittleEndianBytes(try source.read(offset: 0, count: 64))
        guard header.slice(0, 4) == [0x7f, 0x45, 0x4c, 0x46] else { throw .notELF }
        guard header.u8(4) == 2 else { throw .unsupported("32-bit ELF (class \(header.u8(4)))") }
        guard header.u8(5) == 1 else { throw .unsupported("big-endian ELF") }
        type = header.u16(16)
        machine = header.u16(18)

        let phoff = header.u64(32), shoff = header.u64(40)
        let phentsize = Int(header.u16(54)), phnum = Int(header.u16(56))
        let shentsize = Int(header.u16(58))
        var shnum = Int(header.u16(60)), shstrndx = Int(header.u16(62))

        // Program headers: PT_LOAD for address translation, PT_NOTE for the build-id.
        var segments: [LoadSegment] = []
        var noteRanges: [(offset: UInt64, size: UInt64)] = []
        if phnum > 0 {
            guard phentsize >= 56 else { throw .malformed("program header size \(phentsize) < 56") }
            let table = LittleEndianBytes(try Self.readTable(source, offset: phoff, count: phnum, entrySize: phentsize, what: "program headers"))
            for i in 0..<phnum {
                let at = i * phentsize
                let kind = table.u32(at)
                if kind == 1 {  // PT_LOAD
                    segments.append(LoadSegment(
                        fileOffset: table.u64(at + 8), virtualAddress: table.u64(at + 16),
                        fileSize: table.u64(at + 32), memorySize: table.u64(at + 40),
                        isExecutable: table.u32(at + 4) & 1 != 0))
                } else if kind == 4 {  // PT_NOTE
                    noteRanges.append((table.u64(at + 8), table.u64(at + 32)))
                }
            }
        }
        self.segments = segments

        // Section headers, with the extended numbering of very large objects.
        var sections: [Section] = []
        if shoff != 0 {
            guard shentsize >= 64 else { throw .malformed("section header size \(shentsize) < 64") }
            let first = LittleEndianBytes(try Self.readTable(source, offset: shoff, count: 1, entrySize: shentsize, what: "section headers"))
            if shnum == 0 { shnum = Int(clamping: first.u64(32)) }
            if shstrndx == 0xffff { shstrndx = Int(first.u32(40)) }
            guard shnum <= Int(source.size / 64) else { throw .malformed("\(shnum) section headers cannot fit in \(source.size) bytes") }
            let table = LittleEndianBytes(try Self.readTable(source, offset: shoff, count: shnum, entrySize: shentsize, what: "section headers"))
            var raw: [(nameOffset: Int, section: Section)] = []
            raw.reserveCapacity(shnum)
            for i in 0..<shnum {
                let at = i * shentsize
                raw.append((Int(table.u32(at)), Section(
                    name: "", type: table.u32(at + 4), flags: table.u64(at + 8), address: table.u64(at + 16),
                    offset: table.u64(at + 24), size: table.u64(at + 32), link: table.u32(at + 40),
                    entrySize: table.u64(at + 56))))
            }
            var names = LittleEndianBytes([])
            if shstrndx > 0 && shstrndx < shnum && raw[shstrndx].section.type != Self.sectionNobits {
                let s = raw[shstrndx].section
                names = LittleEndianBytes(try Self.readRange(source, offset: s.offset, size: s.size, what: "section name table"))
            }
            for var entry in raw {
                entry.section.name = String(decoding: names.cString(at: entry.nameOffset), as: UTF8.self)
                sections.append(entry.section)
            }
        }
        self.sections = sections

        // Build-id: from note sections, else from PT_NOTE segments (stripped section headers).
        var buildID: [UInt8]? = nil
        let noteSections = sections.filter { $0.type == Self.sectionNote }.map { ($0.offset, $0.size) }
        for (offset, size) in noteSections + noteRanges where buildID == nil {
            guard size <= 1 << 20 else { continue }
            let notes = LittleEndianBytes(try Self.readRange(source, offset: offset, size: size, what: "note"))
            buildID = Self.findBuildID(in: notes)
        }
        self.buildID = buildID

        if let link = sections.first(where: { $0.name == ".gnu_debuglink" && $0.type != Self.sectionNobits }), link.size <= 4096 {
            let bytes = LittleEndianBytes(try Self.readRange(source, offset: link.offset, size: link.size, what: ".gnu_debuglink"))
            let name = bytes.cString(at: 0)
            let crcAt = (name.count + 4) & ~3
            if !name.isEmpty, bytes.has(4, at: crcAt) {
                debugLink = (String(decoding: name, as: UTF8.self), bytes.u32(crcAt))
            } else {
                debugLink = nil
            }
        } else {
            debugLink = nil
        }
    }

    /// The build-id as lowercase hex ("" when absent).
    public var buildIDHex: String { buildID.map(hexString) ?? "" }

    /// Whether the image has a `.symtab` with entries.
    public var hasSymtab: Bool { sections.contains { $0.type == Self.sectionSymtab && $0.size > 0 } }

    /// The ELF virtual address of a byte at `fileOffset`, through the PT_LOAD segment holding it.
    public func virtualAddress(forFileOffset fileOffset: UInt64) -> UInt64? {
        Self.virtualAddress(forFileOffset: fileOffset, in: segments)
    }

    static func virtualAddress(forFileOffset fileOffset: UInt64, in segments: [LoadSegment]) -> UInt64? {
        for segment in segments where fileOffset >= segment.fileOffset && fileOffset - segment.fileOffset < max(segment.fileSize, 1) {
            return fileOffset - segment.fileOffset &+ segment.virtualAddress
        }
        return nil
    }

    /// The symbols of `.symtab`, else of `.dynsym`, else an empty table.
    public func functionSymbols() throws(ELFError) -> SymbolTable {
        for wanted in [Self.sectionSymtab, Self.sectionDynsym] {
            guard let table = sections.first(where: { $0.type == wanted && $0.size > 0 }) else { continue }
            guard Int(table.link) < sections.count else {
                throw .malformed("symbol table \(table.name) links to missing section \(table.link)")
            }
            let strings = sections[Int(table.link)]
            guard strings.type != Self.sectionNobits, table.type != Self.sectionNobits else { continue }
            guard table.size <= Self.maximumTableBytes, strings.size <= Self.maximumTableBytes else {
                throw .unsupported("symbol table \(table.name) larger than \(Self.maximumTableBytes >> 20) MiB")
            }
            let symbols = try Self.readRange(source, offset: table.offset, size: table.size, what: "symbol table \(table.name)")
            let names = try Self.readRange(source, offset: strings.offset, size: strings.size, what: "string table \(strings.name)")
            let allocated = sections.map { $0.flags & 0x2 != 0 }  // SHF_ALLOC
            return SymbolTable(elfSymbols: symbols, strings: names, allocated: allocated, kind: wanted == Self.sectionSymtab ? .symtab : .dynsym,
                               source: source, stringsOffset: strings.offset)
        }
        return SymbolTable(entries: [], names: .memory([]), kind: .none)
    }

    static func readTable(_ source: any ByteSource, offset: UInt64, count: Int, entrySize: Int, what: String) throws(ELFError) -> [UInt8] {
        let (size, overflow) = UInt64(count).multipliedReportingOverflow(by: UInt64(entrySize))
        guard !overflow else { throw .malformed("\(what) table size overflows") }
        return try readRange(source, offset: offset, size: size, what: what)
    }

    static func readRange(_ source: any ByteSource, offset: UInt64, size: UInt64, what: String) throws(ELFError) -> [UInt8] {
        guard offset <= source.size, size <= source.size - offset else {
            throw .truncated("\(what) at \(offset)+\(size) lies beyond the end of the \(source.size)-byte image")
        }
        guard size <= UInt64(Int.max) else { throw .malformed("\(what) is too large") }
        return try source.read(offset: offset, count: Int(size))
    }

    /// Walks ELF notes looking for `NT_GNU_BUILD_ID` ("GNU", type 3).
    static func findBuildID(in notes: LittleEndianBytes) -> [UInt8]? {
        var at = 0
        while notes.has(12, at: at) {
            let nameSize = Int(notes.u32(at)), descSize = Int(notes.u32(at + 4)), kind = notes.u32(at + 8)
            let nameAt = at + 12
            let descAt = nameAt + ((nameSize + 3) & ~3)
            guard nameSize <= notes.count, descSize <= notes.count, notes.has(descSize, at: descAt) else { return nil }
            if kind == 3 && nameSize == 4 && notes.slice(nameAt, 4) == [0x47, 0x4e, 0x55, 0] && descSize > 0 {
                return notes.slice(descAt, descSize)
            }
            at = descAt + ((descSize + 3) & ~3)
        }
        return nil
    }
}

/// Lowercase hex of `bytes`.
public func hexString(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out = [UInt8]()
    out.reserveCapacity(bytes.count * 2)
    for b in bytes {
        out.append(digits[Int(b >> 4)])
        out.append(digits[Int(b & 0xf)])
    }
    return String(decoding: out, as: UTF8.self)
}
