import Dispatch

/// Turns raw stack addresses into frames: user addresses through the
/// process's mappings and ELF symbols, kernel addresses through kallsyms.
///
/// Shared by all processes and windows; the per-process view (`process(_:)`)
/// is a cheap snapshot of one process's mappings.
public final class Symbolizer: Sendable {
    public struct Options: Sendable {
        /// Where /proc is (tests point it elsewhere).
        public var procRoot = "/proc"
        public var kallsymsPath = "/proc/kallsyms"
        public var modulesPath = "/proc/modules"
        /// How often the module list is compared (and a missed address re-read), nanoseconds.
        public var kernelCheckInterval: UInt64 = 1_000_000_000
        public var debugDirectories = ["/usr/lib/debug"]
        /// Swift names simplified (the default) or in the runtime's full form.
        public var swiftNames = SwiftNameStyle.simplified
        public init() {}
    }

    public let options: Options
    public let binaries: BinaryCache
    /// Names of Python frames (code objects read from the processes).
    public let python = CPythonNames()
    /// Names of JIT-compiled code, from the processes' perf maps.
    public let perfMaps: PerfMaps
    /// The kernel's vDSO image, naming `[vdso]` frames (nil without one).
    public let vdso: LoadedBinary? = VDSOImage.load()
    /// Frames left unnamed, by why.
    public let unnamedFrames = UnnamedFrameCounts()
    /// Kernel symbols, read again when modules come and go.
    public let kernel: KernelSymbols
    /// The last maps read of each process, so samples taken just before a
    /// process exited still symbolise (its binaries are in `binaries`).
    private let recentMaps = Locked<(byPID: [Int32: (maps: ProcessMaps, readAt: UInt64)], prunedAt: UInt64)>(([:], 0))
    /// How long the maps of an exited process are kept, and how many processes at most.
    static let recentMapsSeconds: UInt64 = 60
    static let recentMapsLimit = 4096

    public init(options: Options = Options()) {
        self.options = options
        self.binaries = BinaryCache(debugFiles: DebugFileLocator(directories: options.debugDirectories), swiftNames: options.swiftNames)
        self.perfMaps = PerfMaps(procRoot: options.procRoot)
        self.kernel = KernelSymbols(kallsymsPath: options.kallsymsPath, modulesPath: options.modulesPath,
                                    checkInterval: options.kernelCheckInterval)
    }

    /// Kernel symbols, loaded on first use and read again as `KernelSymbols` says.
    public var kernelSymbols: Result<KallsymsTable, SymbolizerError> { kernel.table }

    /// Makes the next use re-read the kernel symbols.
    public func reloadKernelSymbols() { kernel.reload() }

    /// The frame for a kernel address.
    public func kernelFrame(_ address: UInt64) -> Frame {
        if let name = kernel.lookup(address) {
            return Frame(function: name, systemName: name, address: address, mapping: .kernel)
        }
        unnamedFrames.count(.kernel)
        return Frame(function: "[kernel.kallsyms]", systemName: "[kernel.kallsyms]", address: address, mapping: .kernel)
    }

    /// A snapshot of `pid`'s mappings to symbolise its user addresses.
    /// A process that is gone yields a view whose frames are placeholders.
    public func process(_ pid: Int32) -> ProcessSymbols {
        ProcessSymbols(pid: pid, symbolizer: self)
    }

    /// Keeps `maps` of `pid`, read as it started or mapped new code, and loads the
    /// binaries of its code now: if it exits before its samples are symbolised, they
    /// are named from these (its root and map_files are gone by then).
    public func keep(_ maps: ProcessMaps, of pid: Int32) {
        remember(maps, of: pid)
        ProcessSymbols(pid: pid, maps: maps, symbolizer: self).loadCode()
    }

    func remember(_ maps: ProcessMaps, of pid: Int32) {
        let now = DispatchTime.now().uptimeNanoseconds
        recentMaps.withLock { recent in
            // Forget processes not read for recentMapsSeconds, every 10 s (not only when full:
            // under process churn the table would otherwise grow to its limit and stay there).
            if recent.byPID.count >= Self.recentMapsLimit || now - recent.prunedAt >= 10_000_000_000 {
                recent.byPID = recent.byPID.filter { now - $0.value.readAt < Self.recentMapsSeconds * 1_000_000_000 }
                if recent.byPID.count >= Self.recentMapsLimit { recent.byPID.removeAll() }
                recent.prunedAt = now
            }
            recent.byPID[pid] = (maps, now)
        }
    }

    func recalled(_ pid: Int32) -> ProcessMaps? {
        let now = DispatchTime.now().uptimeNanoseconds
        return recentMaps.withLock { recent in
            guard let entry = recent.byPID[pid] else { return nil }
            guard now - entry.readAt < Self.recentMapsSeconds * 1_000_000_000 else {
                recent.byPID[pid] = nil
                return nil
            }
            return entry.maps
        }
    }
}

/// User-space symbolisation for one process, from one read of its maps.
/// Not thread-safe: use one per process per pass.
public final class ProcessSymbols {
    public let pid: Int32
    /// Why the maps could not be read (the process exited), nil when they were.
    public let unavailable: SymbolizerError?
    private let maps: ProcessMaps
    private let symbolizer: Symbolizer
    private var resolved: [UInt64: Result<LoadedBinary, ELFError>] = [:]
    private var pythonRuntime: (runtime: CPythonRuntime, memory: ProcessMemory)??

    init(pid: Int32, symbolizer: Symbolizer) {
        self.pid = pid
        self.symbolizer = symbolizer
        do {
            maps = try ProcessMaps.read(pid: pid, procRoot: symbolizer.options.procRoot)
            unavailable = nil
            symbolizer.remember(maps, of: pid)
        } catch {
            // Gone: use its last known maps (binaries already parsed resolve from the cache).
            maps = symbolizer.recalled(pid) ?? ProcessMaps(parsing: [])
            unavailable = error
        }
    }

    /// A view of maps read elsewhere (`Symbolizer.keep`).
    init(pid: Int32, maps: ProcessMaps, symbolizer: Symbolizer) {
        self.pid = pid
        self.symbolizer = symbolizer
        self.maps = maps
        unavailable = nil
    }

    /// Loads (or finds cached) the binary of every executable file mapping.
    func loadCode() {
        for mapping in maps.mappings where mapping.isFile && mapping.isExecutable { _ = resolve(mapping) }
    }

    /// The frame for user address `address`. `isReturnAddress` is true for
    /// every frame but the leaf: the symbol is looked up at `address - 1`, the
    /// call instruction, as a return address may already point past the caller.
    public func frame(_ address: UInt64, isReturnAddress: Bool) -> Frame {
        frames(address, isReturnAddress: isReturnAddress, expandingInlinedCalls: false)[0]
    }

    /// The frames for user address `address`: one, or for Go code the calls inlined
    /// there (innermost first) followed by the function that holds them, as
    /// `go tool pprof` shows them. Each has its source file and line.
    public func frames(_ address: UInt64, isReturnAddress: Bool) -> [Frame] {
        frames(address, isReturnAddress: isReturnAddress, expandingInlinedCalls: true)
    }

    /// Without `expandingInlinedCalls`, a Go frame is the outer function with the line
    /// of the innermost call (as `go tool addr2line` prints it).
    private func frames(_ address: UInt64, isReturnAddress: Bool, expandingInlinedCalls: Bool) -> [Frame] {
        guard let mapping = maps.mapping(containing: address) else {
            if let jit = jitFrame(address, isReturnAddress: isReturnAddress, mapping: nil) { return [jit] }
            let (name, reason): (String, UnnamedFrameReason) = switch unavailable {
            case .processNotReadable?: ("[no access]", .noAccess)
            case _ where unavailable == nil || !maps.mappings.isEmpty: ("[unknown]", .unknown)
            default: ("[exited]", .exited)
            }
            symbolizer.unnamedFrames.count(reason)
            return [Frame(function: name, systemName: name, address: address, mapping: nil)]
        }
        guard mapping.isFile else {
            if mapping.path == "[vdso]", let vdso = symbolizer.vdso {
                let lookup = isReturnAddress && address > mapping.start ? address - 1 : address
                let mapped = binaryMapping(mapping, buildID: vdso.buildID)
                if let vaddr = vdso.virtualAddress(forFileOffset: lookup - mapping.start), let function = vdso.function(at: vaddr) {
                    return [Frame(function: function.name, systemName: function.systemName, address: address, mapping: mapped)]
                }
            }
            if mapping.path.isEmpty, let jit = jitFrame(address, isReturnAddress: isReturnAddress, mapping: mapping) { return [jit] }
            // Anonymous executable memory is JIT code (no perf map names it); else "[stack]", "[vdso]"….
            let name = mapping.path.isEmpty ? "[jit]" : mapping.path
            symbolizer.unnamedFrames.count(mapping.path.isEmpty ? .jit : .unknown)
            return [placeholder(name, address, mapping, buildID: "")]
        }
        let binary: LoadedBinary
        switch resolve(mapping) {
        case .success(let found): binary = found
        case .failure:
            symbolizer.unnamedFrames.count(.unreadable)
            return [placeholder("[unreadable: \(mapping.path)]", address, mapping, buildID: "")]
        }
        let lookup = isReturnAddress && address > mapping.start ? address - 1 : address
        guard let vaddr = binary.virtualAddress(forFileOffset: mapping.fileOffset(of: lookup)),
              let function = binary.function(at: vaddr) else {
            symbolizer.unnamedFrames.count(.stripped)
            let at = binary.virtualAddress(forFileOffset: mapping.fileOffset(of: address)) ?? mapping.fileOffset(of: address)
            return [placeholder("[stripped: \(mapping.path)+0x\(String(at, radix: 16))]", address, mapping, buildID: binary.buildID)]
        }
        let mapped = binaryMapping(mapping, buildID: binary.buildID)
        let go = binary.goFrames(at: vaddr)
        guard let outer = go.last, let inner = go.first else {
            return [Frame(function: function.name, systemName: function.systemName, address: address, mapping: mapped)]
        }
        guard expandingInlinedCalls else {
            return [Frame(function: function.name, systemName: function.systemName, address: address, mapping: mapped,
                          file: inner.file, line: inner.line)]
        }
        // The outer function keeps the symbol table's name (the same as Go's unless a .symtab says otherwise).
        return go.dropLast().map { Frame(function: $0.function, systemName: $0.function, address: address, mapping: mapped, file: $0.file, line: $0.line) }
            + [Frame(function: function.name, systemName: function.systemName, address: address, mapping: mapped, file: outer.file, line: outer.line)]
    }

    /// The frame of a Python function BPF found running: `code` is the code
    /// object's address, `offset` the instruction (code units), `fingerprint`
    /// what BPF read at its `co_firstlineno`.
    public func pythonFrame(code: UInt64, offset: UInt32, fingerprint: UInt32) -> Frame {
        if pythonRuntime == nil {
            pythonRuntime = .some(ProcessMemory(pid: pid, procRoot: symbolizer.options.procRoot).flatMap { memory in
                guard case .success(let runtime) = CPythonRuntime.find(in: maps, memory: memory, symbols: symbolizer.python.symbols,
                                                                       procRoot: symbolizer.options.procRoot) else { return nil }
                return (runtime, memory)
            })
        }
        guard let (runtime, memory) = pythonRuntime ?? nil,
              let found = symbolizer.python.code(pid: pid, address: code, fingerprint: fingerprint, runtime: runtime, memory: memory) else {
            let name = unavailable == nil ? "[python code 0x\(String(code, radix: 16))]" : "[exited]"
            symbolizer.unnamedFrames.count(unavailable == nil ? .python : .exited)
            return Frame(function: name, systemName: name, address: code, mapping: nil, kind: .python)
        }
        return Frame(function: found.qualifiedName, systemName: found.qualifiedName, address: code, mapping: nil, kind: .python,
                     file: found.filename, line: found.line(atCodeUnit: offset), startLine: found.firstLine)
    }

    /// The frame of JIT-compiled code (anonymous memory) named by the process's perf map.
    private func jitFrame(_ address: UInt64, isReturnAddress: Bool, mapping: MemoryMapping?) -> Frame? {
        let lookup = isReturnAddress && address > (mapping?.start ?? 0) ? address - 1 : address
        guard let (name, path) = symbolizer.perfMaps.symbol(pid: pid, address: lookup) else { return nil }
        let mapped = mapping.map { BinaryMapping(start: $0.start, limit: $0.end, fileOffset: 0, path: path, buildID: "") }
        return Frame(function: name, systemName: name, address: address, mapping: mapped)
    }

    private func resolve(_ mapping: MemoryMapping) -> Result<LoadedBinary, ELFError> {
        if let known = resolved[mapping.start] { return known }
        let proc = "\(symbolizer.options.procRoot)/\(pid)"
        let result = symbolizer.binaries.binary(for: mapping, candidates: {
            var candidates: [BinaryCandidate] = []
            if !mapping.isDeleted { candidates.append(.inRoot(path: mapping.path, root: "\(proc)/root")) }
            // map_files reaches the mapped inode even when the path was deleted or replaced.
            candidates.append(.path("\(proc)/map_files/\(String(mapping.start, radix: 16))-\(String(mapping.end, radix: 16))"))
            // Without access to the process's root (no CAP_SYS_PTRACE over it), the
            // same path in the agent's own namespace serves if it is the mapped inode.
            if !mapping.isDeleted, mapping.isMapped(from: mapping.path) { candidates.append(.path(mapping.path)) }
            return candidates
        }, root: "\(proc)/root")
        resolved[mapping.start] = result
        return result
    }

    private func placeholder(_ name: String, _ address: UInt64, _ mapping: MemoryMapping, buildID: String) -> Frame {
        Frame(function: name, systemName: name, address: address, mapping: binaryMapping(mapping, buildID: buildID))
    }

    private func binaryMapping(_ mapping: MemoryMapping, buildID: String) -> BinaryMapping {
        BinaryMapping(start: mapping.start, limit: mapping.end, fileOffset: mapping.offset, path: mapping.path, buildID: buildID)
    }
}
