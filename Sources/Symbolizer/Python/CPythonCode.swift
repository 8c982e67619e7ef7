/// What a profile shows of one CPython code object, read from the process.
public struct CPythonCode: Sendable, Equatable {
    /// `co_qualname` ("Class.method", "outer.<locals>.inner"); `co_name` before 3.11.
    public var qualifiedName: String
    /// `co_filename`.
    public var filename: String
    /// `co_firstlineno`.
    public var firstLine: Int
    /// `co_linetable` (3.10+) or `co_lnotab`, at most `CPythonObjects.maximumLineTable` bytes.
    public var lineTable: [UInt8]
    public var lineTableFormat: PythonLineTable.Format = .locations311

    /// The source line of the instruction `offset` code units into the bytecode
    /// (`PYTHON_OFFSET_UNKNOWN` or past the table: the first line).
    public func line(atCodeUnit offset: UInt32) -> Int {
        guard offset != UInt32.max else { return firstLine }
        return PythonLineTable.line(forCodeUnit: Int(offset), firstLine: firstLine, table: lineTable, format: lineTableFormat) ?? firstLine
    }
}

/// Reads CPython objects out of a process's memory, bounded, nil on any failure.
public enum CPythonObjects {
    /// Longest name or path read (characters).
    public static let maximumString = 1024
    /// Largest line table read.
    public static let maximumLineTable = 64 * 1024

    /// The fingerprint BPF computes for a code object (`bpf/python.bpf.h`): the
    /// 8 bytes at `co_firstlineno`, folded to 32 bits.
    public static func fingerprint(ofWord word: UInt64) -> UInt32 {
        UInt32(truncatingIfNeeded: word ^ (word >> 32))
    }

    /// The code object at `address`, nil when it is not one (its `ob_type` is not `PyCode_Type`) or unreadable.
    public static func code(at address: UInt64, runtime: CPythonRuntime, memory: ProcessMemory) -> (code: CPythonCode, fingerprint: UInt32)? {
        let layout = runtime.layout
        guard let header = memory.read(address, count: Int(layout.codeLineTable + 8)) else { return nil }
        let bytes = LittleEndianBytes(header)
        guard bytes.u64(8) == runtime.codeTypeAddress else { return nil }
        let fingerprint = fingerprint(ofWord: bytes.u64(Int(layout.codeFirstLine)))
        let firstLine = Int(Int32(bitPattern: bytes.u32(Int(layout.codeFirstLine))))
        guard let name = layout.codeQualifiedName.flatMap({ string(at: bytes.u64(Int($0)), layout: layout, memory: memory) })
                ?? string(at: bytes.u64(Int(layout.codeName)), layout: layout, memory: memory) else { return nil }
        let filename = string(at: bytes.u64(Int(layout.codeFilename)), layout: layout, memory: memory) ?? ""
        let table = self.bytes(at: bytes.u64(Int(layout.codeLineTable)), layout: layout, memory: memory) ?? []
        let format = PythonLineTable.format(major: runtime.major, minor: runtime.minor) ?? .locations311
        return (CPythonCode(qualifiedName: name, filename: filename, firstLine: firstLine, lineTable: table, lineTableFormat: format), fingerprint)
    }

    /// A `str` object's text: compact strings (every name and path CPython makes); nil for others.
    public static func string(at address: UInt64, layout: CPythonLayout, memory: ProcessMemory) -> String? {
        guard address != 0, let header = memory.read(address, count: 40) else { return nil }
        let bytes = LittleEndianBytes(header)
        let length = bytes.u64(16), state = bytes.u32(32)
        let kind = Int((state >> 2) & 7), compact = (state >> 5) & 1 == 1, ascii = (state >> 6) & 1 == 1
        guard compact, length <= UInt64(maximumString), [1, 2, 4].contains(kind) else { return nil }
        let start = ascii ? layout.asciiData : layout.compactData
        guard let data = memory.read(address &+ start, count: Int(length) * kind) else { return nil }
        switch kind {
        case 1: return ascii ? String(decoding: data, as: UTF8.self) : String(data.map { Character(Unicode.Scalar($0)) })
        case 2:
            let units = stride(from: 0, to: data.count, by: 2).map { UInt16(data[$0]) | UInt16(data[$0 + 1]) << 8 }
            return String(decoding: units, as: UTF16.self)
        default:
            var text = String.UnicodeScalarView()
            for at in stride(from: 0, to: data.count, by: 4) {
                let value = UInt32(data[at]) | UInt32(data[at + 1]) << 8 | UInt32(data[at + 2]) << 16 | UInt32(data[at + 3]) << 24
                text.append(Unicode.Scalar(value) ?? "\u{FFFD}")
            }
            return String(text)
        }
    }

    /// A `bytes` object's contents (at most `maximumLineTable`).
    public static func bytes(at address: UInt64, layout: CPythonLayout, memory: ProcessMemory) -> [UInt8]? {
        guard address != 0, let size = memory.u64(address &+ 16), size <= UInt64(maximumLineTable) else { return nil }
        return memory.read(address &+ layout.bytesData, count: Int(size))
    }
}

/// Names of Python frames, cached by (process, code object address) and
/// re-read when the fingerprint BPF saw differs (a freed code object's address
/// reused). Bounded: emptied when full.
public final class CPythonNames: Sendable {
    public struct Statistics: Sendable, Equatable {
        public var hits: UInt64 = 0
        public var misses: UInt64 = 0
        /// Code objects that could not be read (exited, freed, not a code object).
        public var readFailures: UInt64 = 0
        public var entries = 0
        public init() {}
    }

    private struct Key: Hashable { var pid: Int32; var code: UInt64 }
    private struct State {
        var codes: [Key: (fingerprint: UInt32, code: CPythonCode)] = [:]
        var statistics = Statistics()
    }
    private let state = Locked(State())
    public let symbols = CPythonSymbolCache()
    /// Code objects remembered at most (~200 B each).
    public static let limit = 65536

    public init() {}

    public var statistics: Statistics { state.withLock { $0.statistics } }

    /// The code object of a frame BPF recorded.
    public func code(pid: Int32, address: UInt64, fingerprint: UInt32, runtime: CPythonRuntime, memory: ProcessMemory) -> CPythonCode? {
        let key = Key(pid: pid, code: address)
        if let known = state.withLock({ state -> CPythonCode? in
            guard let entry = state.codes[key], entry.fingerprint == fingerprint else { return nil }
            state.statistics.hits += 1
            return entry.code
        }) { return known }
        let read = CPythonObjects.code(at: address, runtime: runtime, memory: memory)
        state.withLock { state in
            state.statistics.misses += 1
            guard let read else { state.statistics.readFailures += 1; return }
            if state.codes.count >= Self.limit { state.codes.removeAll() }
            // Keyed by what BPF saw: a code object changed since (or recycled) is read again next time.
            state.codes[key] = (read.fingerprint, read.code)
            state.statistics.entries = state.codes.count
        }
        return read?.code
    }
}
