/// A binary mapped into a process (or the kernel), as pprof's Mapping describes it.
public struct BinaryMapping: Sendable, Hashable {
    public var start: UInt64
    public var limit: UInt64
    public var fileOffset: UInt64
    /// Path as the process sees it ("[kernel.kallsyms]" for the kernel).
    public var path: String
    /// GNU build-id in hex, "" when unknown.
    public var buildID: String

    public init(start: UInt64, limit: UInt64, fileOffset: UInt64, path: String, buildID: String) {
        self.start = start
        self.limit = limit
        self.fileOffset = fileOffset
        self.path = path
        self.buildID = buildID
    }

    /// The mapping every kernel frame belongs to.
    public static let kernel = BinaryMapping(start: 0, limit: .max, fileOffset: 0, path: "[kernel.kallsyms]", buildID: "")

    public var isKernel: Bool { path == "[kernel.kallsyms]" }
}

/// One symbolised stack frame.
public struct Frame: Sendable, Hashable {
    /// What ran there.
    public enum Kind: String, Sendable, Hashable {
        /// Machine code of a binary (or unknown user code).
        case native
        /// The kernel.
        case kernel
        /// A Python function, read from the interpreter's own structures.
        case python
    }

    /// Readable (demangled) function name, or a placeholder such as "[/usr/lib/libfoo.so]".
    public var function: String
    /// The name as found in the symbol table (mangled), same as `function` for placeholders.
    public var systemName: String
    /// Runtime address of the instruction (return address for callers).
    public var address: UInt64
    /// The binary it belongs to; nil for addresses outside any known mapping.
    public var mapping: BinaryMapping?
    /// What ran there (kernel frames are `.kernel` when made by `Symbolizer.kernelFrame`).
    public var kind: Kind
    /// Source file of an interpreted function ("" when unknown: native frames).
    public var file: String
    /// Source line being run (0 when unknown).
    public var line: Int
    /// First line of the function's definition (0 when unknown).
    public var startLine: Int

    public init(function: String, systemName: String, address: UInt64, mapping: BinaryMapping?,
                kind: Kind? = nil, file: String = "", line: Int = 0, startLine: Int = 0) {
        self.function = function
        self.systemName = systemName
        self.address = address
        self.mapping = mapping
        self.kind = kind ?? (mapping?.isKernel == true ? .kernel : .native)
        self.file = file
        self.line = line
        self.startLine = startLine
    }

    /// Whether a symbol was found (false for placeholders).
    public var isSymbolized: Bool { !function.hasPrefix("[") }
}
