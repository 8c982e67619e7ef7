import Dispatch

/// A CPython interpreter found in a process: its version, layout and the
/// addresses of the runtime's globals in that process.
///
/// Found by symbols, not by file name: any mapped ELF file (the executable,
/// libpython, a renamed or venv copy, an embedding program) that defines
/// `_PyRuntime` and `Py_Version` is one; before 3.11 (no `Py_Version`) the
/// version is taken from the file's name (`python3.10`, `libpython3.9.so.1.0`).
public struct CPythonRuntime: Sendable, Equatable {
    /// `Py_Version`: 0xMMmmppRS (e.g. 0x030b02f0 = 3.11.2 final); 0xMMmm0000 before 3.11.
    public var hexVersion: UInt32
    public var layout: CPythonLayout
    /// `_PyRuntime` in the process.
    public var runtimeAddress: UInt64
    /// `PyCode_Type` in the process (every code object's `ob_type`).
    public var codeTypeAddress: UInt64
    /// The file defining them, as the process maps it.
    public var path: String

    public var major: Int { Int(hexVersion >> 24) }
    public var minor: Int { Int((hexVersion >> 16) & 0xff) }
    public var micro: Int { Int((hexVersion >> 8) & 0xff) }
    /// "3.11", the label metrics use.
    public var versionLabel: String { "\(major).\(minor)" }

    /// Why a process has no usable CPython runtime.
    public enum Failure: Error, Sendable, Equatable {
        /// No mapped file defines `_PyRuntime` and `Py_Version`.
        case notPython
        /// A Python whose version this agent has no layout for.
        case unsupportedVersion(String)
        /// Its memory could not be read (exited, or no ptrace access).
        case unreadable(String)
        /// The binary's own description disagrees with the layout (a patched or unusual build).
        case layoutMismatch(String)

        /// A short reason, for logs and metric labels.
        public var reason: String {
            switch self {
            case .notPython: "not_python"
            case .unsupportedVersion: "unsupported_version"
            case .unreadable: "unreadable"
            case .layoutMismatch: "layout_mismatch"
            }
        }

        public var message: String {
            switch self {
            case .notPython: "no CPython runtime mapped"
            case .unsupportedVersion(let version): "CPython \(version) is not supported (3.8-3.13 are)"
            case .unreadable(let what): "cannot read \(what)"
            case .layoutMismatch(let what): "the interpreter does not match the expected layout: \(what)"
            }
        }
    }

    static let wantedSymbols: Set<String> = ["_PyRuntime", "Py_Version", "PyCode_Type"]

    /// "3.10" from ".../python3.10" or ".../libpython3.10.so.1.0", nil when the name does not say.
    static func version(inPath path: String) -> String? {
        let name = Array((path.split(separator: "/").last.map(String.init) ?? path).utf8), needle = Array("python3.".utf8)
        guard name.count >= needle.count else { return nil }
        for start in 0...(name.count - needle.count) where name[start..<start + needle.count].elementsEqual(needle) {
            let minor = name[(start + needle.count)...].prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
            return minor.isEmpty ? nil : "3." + String(decoding: minor, as: UTF8.self)
        }
        return nil
    }

    /// The runtime of process `pid`, from its maps and memory; `symbols` finds
    /// (and caches) the named symbols of a mapped file.
    public static func find(in maps: ProcessMaps, memory: ProcessMemory, symbols: CPythonSymbolCache, procRoot: String = "/proc")
        -> Result<CPythonRuntime, Failure> {
        var looked: Set<String> = []
        for mapping in maps.mappings where mapping.isFile && mapping.isExecutable {
            let key = "\(mapping.device):\(mapping.inode)"
            guard looked.insert(key).inserted else { continue }
            guard let found = symbols.symbols(of: mapping, pid: memory.pid, procRoot: procRoot),
                  let runtime = found.symbols["_PyRuntime"], let codeType = found.symbols["PyCode_Type"] else { continue }
            // The load bias of the file: any of its mappings gives it (all segments move together).
            guard let vaddr = ELFFile.virtualAddress(forFileOffset: mapping.offset, in: found.segments) else { continue }
            let bias = mapping.start &- vaddr
            let hex: UInt32
            if let version = found.symbols["Py_Version"] {
                guard let value = memory.u32(version.address &+ bias) else {
                    return .failure(.unreadable("Py_Version of \(mapping.path)"))
                }
                hex = value
            } else {
                // 3.7-3.10 have _PyRuntime but no Py_Version: the file's name says the version, and the
                // checks below (PyCode_Type's size, then the live interpreter) must agree with it.
                guard let named = Self.version(inPath: mapping.path), let minor = UInt32(named.dropFirst(2)), minor <= 10 else {
                    return .failure(.unsupportedVersion(Self.version(inPath: mapping.path) ?? "before 3.11"))
                }
                hex = 3 << 24 | minor << 16
            }
            let major = Int(hex >> 24), minor = Int((hex >> 16) & 0xff)
            guard let layout = CPythonLayout.of(major: major, minor: minor) else {
                return .failure(.unsupportedVersion("\(major).\(minor)"))
            }
            let codeTypeAddress = codeType.address &+ bias
            // PyTypeObject.tp_basicsize (at +32): the code object's fixed part, where the bytecode starts.
            guard let basicSize = memory.u64(codeTypeAddress &+ 32) else {
                return .failure(.unreadable("PyCode_Type of \(mapping.path)"))
            }
            guard basicSize == layout.codeBasicSize else {
                return .failure(.layoutMismatch("PyCode_Type.tp_basicsize is \(basicSize), \(layout.codeBasicSize) expected for \(major).\(minor)"))
            }
            let runtimeAddress = runtime.address &+ bias
            if minor >= 13 {
                // 3.13+: _PyRuntime starts with _Py_DebugOffsets, whose cookie is "xdebugpy".
                guard let cookie = memory.read(runtimeAddress, count: 8) else { return .failure(.unreadable("_PyRuntime of \(mapping.path)")) }
                guard cookie == Array("xdebugpy".utf8) else { return .failure(.layoutMismatch("_PyRuntime has no _Py_DebugOffsets cookie")) }
            }
            return .success(CPythonRuntime(hexVersion: hex, layout: layout, runtimeAddress: runtimeAddress,
                                           codeTypeAddress: codeTypeAddress, path: mapping.path))
        }
        return .failure(.notPython)
    }
}

/// The CPython symbols of mapped files, read once per file (device and inode).
public final class CPythonSymbolCache: Sendable {
    public struct FileSymbols: Sendable {
        public var symbols: [String: ELFFile.NamedSymbol]
        public var segments: [ELFFile.LoadSegment]
    }

    private let files = Locked<[String: FileSymbols?]>([:])
    /// Files remembered at most (a node's distinct executables and libraries).
    static let limit = 8192

    public init() {}

    /// The wanted symbols of the file behind `mapping` (nil when unreadable or none defined).
    public func symbols(of mapping: MemoryMapping, pid: Int32, procRoot: String) -> FileSymbols? {
        let key = "\(mapping.device):\(mapping.inode)"
        if let known = files.withLock({ $0[key] }) { return known }
        let path = "\(procRoot)/\(pid)/map_files/\(String(mapping.start, radix: 16))-\(String(mapping.end, radix: 16))"
        var result: FileSymbols?
        if let source = try? FileByteSource(path: path), source.identity.inode == mapping.inode, let elf = try? ELFFile(source: source),
           let found = try? elf.namedSymbols(CPythonRuntime.wantedSymbols), !found.isEmpty {
            result = FileSymbols(symbols: found, segments: elf.segments)
        }
        files.withLock { files in
            if files.count >= Self.limit { files.removeAll() }
            files[key] = .some(result)
        }
        return result
    }
}
