/// A parsed binary: how to turn its file offsets into ELF addresses, and its
/// function symbols (from a separate debug file when that has more).
public final class LoadedBinary: Sendable {
    public let buildID: String
    /// Where the symbols came from (the binary or its debug file).
    public let symbolSource: String
    let segments: [ELFFile.LoadSegment]
    let symbols: SymbolTable
    private let demangled = Locked<[UInt64: String]>([:])

    init(elf: ELFFile, symbols: SymbolTable, symbolSource: String) {
        self.buildID = elf.buildIDHex
        self.segments = elf.segments
        self.symbols = symbols
        self.symbolSource = symbolSource
    }

    /// Number of function symbols.
    public var symbolCount: Int { symbols.count }

    /// The ELF virtual address of the byte at `fileOffset`.
    public func virtualAddress(forFileOffset fileOffset: UInt64) -> UInt64? {
        ELFFile.virtualAddress(forFileOffset: fileOffset, in: segments)
    }

    /// The start address of the function covering `address` (no names built: cheap).
    public func functionStart(at address: UInt64) -> UInt64? {
        symbols.start(covering: address)
    }

    /// The function at ELF virtual address `address`: (readable, raw) names.
    public func function(at address: UInt64) -> (name: String, systemName: String)? {
        guard let match = symbols.lookup(address) else { return nil }
        if let name = demangled.withLock({ $0[match.address] }) { return (name, match.name) }
        let name = Demangler.demangle(match.name)
        demangled.withLock { $0[match.address] = name }
        return (name, match.name)
    }
}
