/// A parsed binary: how to turn its file offsets into ELF addresses, and its
/// function symbols (from a separate debug file when that has more).
public final class LoadedBinary: Sendable {
    public let buildID: String
    /// Where the symbols came from (the binary or its debug file).
    public let symbolSource: String
    let segments: [ELFFile.LoadSegment]
    let symbols: SymbolTable
    /// Go's function table, for source lines and inlined calls (Go binaries only).
    let goTable: GoFunctionTable?
    /// (readable, raw) names of the functions looked up so far, by start address.
    /// `bytes`: what they hold, kept as they are added (read every drain for the metrics).
    private let names = Locked<(byStart: [UInt64: (name: String, systemName: String)], bytes: Int)>(([:], 0))
    /// Go frames (inlined calls, lines) looked up so far, by address.
    private let goFrameCache = Locked<[UInt64: [GoFunctionTable.SourceFrame]]>([:])

    /// How its Swift names are printed.
    let swiftNames: SwiftNameStyle

    init(elf: ELFFile, symbols: SymbolTable, symbolSource: String, goTable: GoFunctionTable? = nil, swiftNames: SwiftNameStyle = .simplified) {
        self.swiftNames = swiftNames
        self.buildID = elf.buildIDHex
        self.segments = elf.segments
        self.symbols = symbols
        self.symbolSource = symbolSource
        self.goTable = goTable
    }

    /// Where the function names come from (".symtab", ".gopclntab", …).
    public var symbolKind: SymbolTable.Kind { symbols.kind }

    /// The Go frames at ELF virtual address `address`, innermost (inlined) first, with
    /// their source lines; empty for binaries that are not Go.
    public func goFrames(at address: UInt64) -> [GoFunctionTable.SourceFrame] {
        guard let goTable else { return [] }
        // Each lookup reads the function's record and walks its pc tables in the file: remember
        // the answer per address (every drain symbolises the same hot addresses again).
        if let known = goFrameCache.withLock({ $0[address] }) { return known }
        let frames = goTable.frames(at: address)
        goFrameCache.withLock { cache in
            if cache.count >= Self.goFrameCacheLimit { cache.removeAll(keepingCapacity: true) }
            cache[address] = frames
        }
        return frames
    }

    /// Addresses whose Go frames are remembered, at most (then the cache starts again).
    static let goFrameCacheLimit = 1 << 15

    /// Number of function symbols.
    public var symbolCount: Int { symbols.count }

    /// Bytes held: the symbol table and the names looked up so far.
    public var byteCount: Int {
        symbols.byteCount + (goTable?.byteCount ?? 0) + names.withLock { $0.bytes } + goFrameCache.withLock { $0.count } * 128
    }

    /// The ELF virtual address of the byte at `fileOffset`.
    public func virtualAddress(forFileOffset fileOffset: UInt64) -> UInt64? {
        ELFFile.virtualAddress(forFileOffset: fileOffset, in: segments)
    }

    /// The start address of the function covering `address` (no names built: cheap).
    public func functionStart(at address: UInt64) -> UInt64? {
        symbols.start(covering: address)
    }

    /// The raw (symbol-table) name of the function at `address`, not demangled nor cached.
    public func systemName(at address: UInt64) -> String? {
        symbols.lookup(address)?.name
    }

    /// The function at ELF virtual address `address`: (readable, raw) names.
    public func function(at address: UInt64) -> (name: String, systemName: String)? {
        guard let start = symbols.start(covering: address) else { return nil }
        if let known = names.withLock({ $0.byStart[start] }) { return known }
        // First time: read the name from the string table and demangle it.
        guard let match = symbols.lookup(address) else { return nil }
        let function = (name: Demangler.demangle(match.name, swift: swiftNames), systemName: match.name)
        names.withLock {
            if $0.byStart.updateValue(function, forKey: start) == nil {
                $0.bytes += function.name.utf8.count + function.systemName.utf8.count + 48
            }
        }
        return function
    }
}
