import CgroupParsing
import QueryParsing
import Symbolizer

/// The parsers that read untrusted input, as fuzz targets. `make fuzz` runs each
/// under libFuzzer (`profiler-fuzz`); the tests replay `Tests/Corpus/<name>`
/// through the same functions, so every crash once found stays fixed.
///
/// Each target also checks properties of what it parsed (it traps when one
/// breaks, which libFuzzer reports as a crash).
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// ELF headers, sections, notes, symbol tables, lookups and uprobe offsets.
    case elf
    /// `/proc/PID/maps` and `/proc/kallsyms` text.
    case procfs
    /// `/proc/PID/cgroup` text and cgroup paths.
    case cgroup
    /// HTTP query strings and the API's parameter rules.
    case query
    /// Unwind tables: `.eh_frame` / `.debug_frame` parsing, the CFA interpreter, the
    /// table's order and lookups; from a whole ELF image and from raw section bytes.
    case unwind

    /// Runs the target on one input.
    public func run(_ input: [UInt8]) {
        switch self {
        case .elf: Self.elf(input)
        case .procfs: Self.procfs(input)
        case .cgroup: Self.cgroup(input)
        case .query: Self.query(input)
        case .unwind: Self.unwind(input)
        }
    }

    static func elf(_ input: [UInt8]) {
        guard let file = try? ELFFile(source: MemoryByteSource(input)) else { return }
        for segment in file.segments {
            if let address = file.virtualAddress(forFileOffset: segment.fileOffset), let offset = file.fileOffset(forVirtualAddress: address) {
                uprobeOffset(offset, of: "segment at \(address)", fileSize: input.count)
            }
        }
        // What the uprobe attach path asks for (LibraryCallTracer's functions) and converts (UprobeLinks).
        for (name, offset) in (try? file.functionFileOffsets(probedFunctions)) ?? [:] {
            uprobeOffset(offset, of: name, fileSize: input.count)
        }
        goTable(file)
        // MiniDebugInfo: bounded decompression, the inner image parsed like any ELF file.
        if let mini = MiniDebugInfo.symbols(of: file) { _ = mini.lookup(file.segments.first?.virtualAddress ?? 0) }
        guard let table = try? file.functionSymbols() else { return }
        var probes: [UInt64] = [0, UInt64.max]
        for segment in file.segments.prefix(4) {
            probes += [segment.virtualAddress, segment.virtualAddress &+ segment.memorySize / 2, segment.virtualAddress &+ segment.memorySize]
        }
        for address in probes {
            let match = table.lookup(address)
            let start = table.start(covering: address)
            precondition(match?.address == start, "lookup and start(covering:) disagree at \(address)")
            if let match {
                precondition(match.address <= address, "symbol \(match.name) starts after \(address)")
                _ = Demangler.demangle(match.name)
            }
        }
    }

    /// Go's function table, found by section or by its magic: its symbol table agrees
    /// with its own lookups, every frame lies in a function, inlining stays bounded,
    /// and the unwind rows its stack deltas give are ordered.
    static func goTable(_ file: ELFFile) {
        guard let go = GoFunctionTable.find(in: file) else { return }
        let symbols = go.symbolTable()
        var probes: [UInt64] = [0, UInt64.max]
        for segment in file.segments.prefix(4) {
            probes += [segment.virtualAddress, segment.virtualAddress &+ segment.memorySize / 2, segment.virtualAddress &+ segment.memorySize &- 1]
        }
        for address in probes {
            let frames = go.frames(at: address)
            precondition(frames.count <= 33, "\(frames.count) Go frames at one address")
            precondition(frames.isEmpty || symbols.start(covering: address) != nil, "a Go frame where no function covers \(address)")
        }
        if let unwind = try? UnwindTable(elf: file) {
            precondition(unwind.statistics.goFunctions <= go.count, "more Go functions unwound than the table has")
        }
    }

    /// The functions the DNS and TLS tracers probe, and a name every executable has.
    static let probedFunctions: Set<String> = [
        "getaddrinfo", "SSL_read", "SSL_read_ex", "SSL_write", "SSL_write_ex", "SSL_do_handshake", "SSL_connect", "SSL_accept", "main",
    ]

    /// Checks a uprobe offset as `UprobeLinks` uses it: inside the file, and
    /// converted to libbpf's `size_t` offset (`Int`) without trapping.
    static func uprobeOffset(_ offset: UInt64, of what: String, fileSize: Int) {
        precondition(offset < UInt64(fileSize), "\(what): uprobe offset \(offset) outside the \(fileSize)-byte file")
        precondition(Int(exactly: offset) != nil, "\(what): uprobe offset \(offset) is not an Int")
        _ = Int(offset)
    }

    static func procfs(_ input: [UInt8]) {
        let maps = ProcessMaps(parsing: input)
        for mapping in maps.mappings {
            precondition(mapping.start < mapping.end, "empty or inverted mapping accepted")
            precondition(maps.mapping(containing: mapping.start) != nil, "a parsed mapping is not found by its start")
            _ = mapping.fileOffset(of: mapping.start)
        }
        let kallsyms = KallsymsTable(contents: input)
        for address in [0, UInt64.max, 0xffffffff81000000] { _ = kallsyms.lookup(address) }
    }

    static func cgroup(_ input: [UInt8]) {
        let text = String(decoding: input, as: UTF8.self)
        for metadata in [ContainerMetadata(cgroupFile: text), ContainerMetadata(cgroupPath: text)] {
            precondition(metadata.containerID.isEmpty || metadata.containerID.utf8.count == 64, "container id of the wrong length")
            precondition(metadata.containerID.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) },
                         "container id is not lowercase hex")
            precondition(metadata.podUID.isEmpty || metadata.podUID.utf8.count == 36, "pod uid of the wrong length")
        }
    }

    static func query(_ input: [UInt8]) {
        let text = String(decoding: input, as: UTF8.self)  // as the HTTP server hands it over: invalid UTF-8 replaced
        guard let parameters = try? QueryParameters(query: text) else {
            let fields = text.utf8.split(separator: UInt8(ascii: "&")).count
            precondition(text.utf8.count > QueryParameters.maximumLength || fields > QueryParameters.maximumCount, "a short query was refused")
            return
        }
        precondition(parameters.pairs.count <= QueryParameters.maximumCount)
        if let seconds = try? parameters.integer("seconds", in: 1...300) { precondition((1...300).contains(seconds)) }
        if let pids = try? parameters.pids() { precondition(pids.count <= QueryParameters.maximumPIDs && pids.allSatisfy { $0 > 0 }) }
        if let span = try? parameters.spanID("span_id") { precondition(span != 0) }
        _ = try? parameters.choice("format", of: ["pprof", "folded"])
    }

    /// The input as an ELF image, then as raw section bytes after a selector byte:
    /// bit 0 clear: `.eh_frame` at a fake address (with `.eh_frame_hdr` and `.text`
    /// bases); set: `.debug_frame`; bit 1 set: both, the bytes split in halves.
    static func unwind(_ input: [UInt8]) {
        if let file = try? ELFFile(source: MemoryByteSource(input)), let table = try? UnwindTable(elf: file) {
            checkUnwindTable(table)
        }
        guard let selector = input.first else { return }
        let body = Array(input.dropFirst())
        let table: UnwindTable
        if selector & 2 != 0 {
            let half = body.count / 2
            table = UnwindTable(ehFrame: Array(body[..<half]), ehFrameAddress: 0x40_0000, ehFrameHdrAddress: 0x3f_f000,
                                textAddress: 0x1000, debugFrame: Array(body[half...]))
        } else if selector & 1 == 0 {
            table = UnwindTable(ehFrame: body, ehFrameAddress: 0x40_0000, ehFrameHdrAddress: 0x3f_f000, textAddress: 0x1000)
        } else {
            table = UnwindTable(ehFrame: [], ehFrameAddress: 0, debugFrame: body)
        }
        checkUnwindTable(table)
    }

    static func checkUnwindTable(_ table: UnwindTable) {
        precondition(table.addresses.count == table.ruleIndices.count, "one rule index per row")
        precondition(table.statistics.rows == table.count && table.statistics.rules == table.rules.count, "statistics disagree with the table")
        precondition(Set(table.rules).count == table.rules.count, "rules are not de-duplicated")
        var previous: (address: UInt64, rule: UInt32)? = nil
        for index in table.indices {
            let address = table.addresses[index], rule = table.ruleIndices[index]
            precondition(Int(rule) < table.rules.count, "rule index out of range")
            if let previous {
                precondition(previous.address < address, "rows not strictly increasing at \(address)")
                precondition(previous.rule != rule, "equal consecutive rows not merged at \(address)")
            }
            precondition(table.index(for: address) == index, "lookup of a row's own address misses it")
            precondition(table.row(for: address) == table[index], "row(for:) disagrees with the row")
            if address > 0 { precondition(table.index(for: address - 1) == (index == 0 ? nil : index - 1), "lookup before a row") }
            previous = (address, rule)
        }
        if let last = table.last { precondition(last.cfa == .invalid, "the last row does not end an FDE") }
        precondition(table.row(for: 0) == (table.first?.address == 0 ? table.first : nil))
        precondition(table.row(for: .max) == table.last)
    }
}
