#if canImport(Glibc)
import Glibc
#endif

/// Parsed binaries shared by all processes, so each binary is parsed once:
/// found by the identity of the mapping (device, inode, path), by the file's
/// identity (device, inode, mtime, size), and by GNU build-id (the same library
/// in several containers).
public final class BinaryCache: Sendable {
    /// Counters for self-metrics.
    public struct Statistics: Sendable, Equatable {
        public var hits = 0
        public var misses = 0
        public var failures = 0
        public var binaries = 0
        /// Binaries dropped after going unused (`evict(unusedFor:)`).
        public var evicted = 0
        /// Bytes of the cached symbol tables.
        public var symbolBytes = 0
        public init() {}
    }

    enum Outcome { case loaded(LoadedBinary), failed(ELFError) }

    struct State {
        var byMapping: [String: Outcome] = [:]
        var byIdentity: [FileIdentity: LoadedBinary] = [:]
        var byBuildID: [String: LoadedBinary] = [:]
        /// When each cached binary was last asked for (monotonic seconds).
        var lastUsed: [ObjectIdentifier: UInt64] = [:]
        var statistics = Statistics()

        mutating func used(_ binary: LoadedBinary) {
            lastUsed[ObjectIdentifier(binary)] = monotonicSeconds()
        }
    }

    public let debugFiles: DebugFileLocator
    /// Most binaries kept (each holds its file open for its names) before the
    /// cache is emptied and refilled; `evict(unusedFor:)` keeps it well below.
    public let capacity: Int
    private let state = Locked(State())

    /// How the binaries' Swift names are printed.
    public let swiftNames: SwiftNameStyle

    public init(debugFiles: DebugFileLocator = DebugFileLocator(), capacity: Int = 1024, swiftNames: SwiftNameStyle = .simplified) {
        self.debugFiles = debugFiles
        self.swiftNames = swiftNames
        self.capacity = capacity
    }

    public var statistics: Statistics {
        state.withLock { state in
            var statistics = state.statistics
            var seen: Set<ObjectIdentifier> = []
            for binary in Array(state.byIdentity.values) + Array(state.byBuildID.values) where seen.insert(ObjectIdentifier(binary)).inserted {
                statistics.symbolBytes += binary.byteCount
            }
            return statistics
        }
    }

    /// Drops the binaries no process has needed for `seconds` (their processes
    /// exited or stopped running): their tables and open descriptors go.
    /// Returns how many were dropped.
    @discardableResult
    public func evict(unusedFor seconds: UInt64) -> Int {
        state.withLock { state in
            let now = monotonicSeconds()
            let stale = Set(state.lastUsed.filter { now - min($0.value, now) >= seconds }.keys)
            guard !stale.isEmpty else { return 0 }
            state.byIdentity = state.byIdentity.filter { !stale.contains(ObjectIdentifier($0.value)) }
            state.byBuildID = state.byBuildID.filter { !stale.contains(ObjectIdentifier($0.value)) }
            state.byMapping = state.byMapping.filter {
                if case .loaded(let binary) = $0.value { return !stale.contains(ObjectIdentifier(binary)) }
                return true
            }
            for id in stale { state.lastUsed[id] = nil }
            state.statistics.evicted += stale.count
            state.statistics.binaries = state.byIdentity.count
            return stale.count
        }
    }

    /// The binary behind a process mapping. `candidates` are where to try in
    /// order (e.g. inside /proc/PID/root, then /proc/PID/map_files); a file is
    /// accepted only when its device and inode are the mapping's. `root`
    /// prefixes debug-file paths.
    public func binary(for mapping: MemoryMapping, candidates: () -> [BinaryCandidate], root: String) -> Result<LoadedBinary, ELFError> {
        let key = "\(mapping.device):\(mapping.inode):\(mapping.path)"
        let cached: Outcome? = state.withLock { state in
            let outcome = state.byMapping[key]
            if outcome != nil { state.statistics.hits += 1 }
            if case .loaded(let binary)? = outcome { state.used(binary) }
            return outcome
        }
        switch cached {
        case .loaded(let binary): return .success(binary)
        case .failed(let error): return .failure(error)
        case nil: break
        }
        var lastError = ELFError.cannotOpen(path: mapping.path, reason: "no path to open")
        for candidate in candidates() {
            let opened = candidate.open(mapping)
            if case .failure = opened { state.withLock { $0.statistics.failures += 1 } }
            switch opened.flatMap({ load(source: $0, displayPath: mapping.path, root: root) }) {
            case .success(let binary):
                remember(key, .loaded(binary))
                return .success(binary)
            case .failure(let error):
                lastError = error
            }
        }
        // An unopenable file may be transient (the process just exited): only
        // failures of the content (malformed, unsupported) are remembered.
        if case .cannotOpen = lastError {} else { remember(key, .failed(lastError)) }
        return .failure(lastError)
    }

    /// Loads the binary at `path` (through the identity and build-id caches).
    /// `displayPath` is its path as the process sees it, for .gnu_debuglink.
    public func load(path: String, displayPath: String? = nil, root: String = "") -> Result<LoadedBinary, ELFError> {
        do throws(ELFError) {
            return load(source: try FileByteSource(path: path), displayPath: displayPath, root: root)
        } catch {
            state.withLock { $0.statistics.failures += 1 }
            return .failure(error)
        }
    }

    /// Loads the binary open in `source` (through the identity and build-id caches).
    func load(source: FileByteSource, displayPath: String?, root: String) -> Result<LoadedBinary, ELFError> {
        let path = source.path
        do throws(ELFError) {
            if let binary = state.withLock({ state -> LoadedBinary? in
                let hit = state.byIdentity[source.identity]
                if let hit {
                    state.statistics.hits += 1
                    state.used(hit)
                }
                return hit
            }) {
                return .success(binary)
            }
            let elf = try ELFFile(source: source)
            if let id = elf.buildID.map(hexString), let binary = state.withLock({ state -> LoadedBinary? in
                guard let hit = state.byBuildID[id] else { return nil }
                state.statistics.hits += 1
                state.byIdentity[source.identity] = hit
                state.used(hit)
                return hit
            }) {
                return .success(binary)
            }
            let binary = try parse(elf, path: path, displayPath: displayPath ?? path, root: root)
            state.withLock { state in
                state.statistics.misses += 1
                // Full (binaries in use keep an open descriptor each): start over.
                if state.byIdentity.count >= capacity || state.byBuildID.count >= capacity {
                    state = State(statistics: state.statistics)
                }
                state.byIdentity[source.identity] = binary
                state.used(binary)
                if !binary.buildID.isEmpty { state.byBuildID[binary.buildID] = binary }
                state.statistics.binaries = state.byIdentity.count
            }
            return .success(binary)
        } catch {
            state.withLock { $0.statistics.failures += 1 }
            return .failure(error)
        }
    }

    /// Symbols from the binary's `.symtab`; when it has none, from Go's function table
    /// (a stripped Go binary), else a separate debug file with a `.symtab` (matching
    /// build-id), else `.dynsym` with the MiniDebugInfo's `.symtab`, else `.dynsym`.
    private func parse(_ elf: ELFFile, path: String, displayPath: String, root: String) throws(ELFError) -> LoadedBinary {
        let go = GoFunctionTable.find(in: elf)
        if !elf.hasSymtab, let go {
            return LoadedBinary(elf: elf, symbols: go.symbolTable(), symbolSource: path, goTable: go, swiftNames: swiftNames)
        }
        if !elf.hasSymtab {
            let candidates = debugFiles.candidates(
                buildID: elf.buildIDHex, debugLink: elf.debugLink?.name, binaryPath: displayPath, root: root)
            for candidate in candidates {
                // Inside a container's root, its debug files are resolved without leaving it.
                let inRoot = !root.isEmpty && candidate.hasPrefix(root + "/")
                guard let source = try? (inRoot ? FileByteSource(path: String(candidate.dropFirst(root.count)), in: root, accept: { _ in true })
                                                : FileByteSource(path: candidate)),
                      let debug = try? ELFFile(source: source), debug.hasSymtab else { continue }
                if let want = elf.buildID, let have = debug.buildID, want != have { continue }
                if let symbols = try? debug.functionSymbols(), symbols.count > 0 {
                    return LoadedBinary(elf: elf, symbols: symbols, symbolSource: candidate, swiftNames: swiftNames)
                }
            }
        }
        if !elf.hasSymtab, let mini = MiniDebugInfo.symbols(of: elf) {
            let symbols = SymbolTable.merging([try elf.functionSymbols(), mini], kind: .miniDebugInfo)
            return LoadedBinary(elf: elf, symbols: symbols, symbolSource: path + " (.gnu_debugdata)", goTable: go, swiftNames: swiftNames)
        }
        return LoadedBinary(elf: elf, symbols: try elf.functionSymbols(), symbolSource: path, goTable: go, swiftNames: swiftNames)
    }

    private func remember(_ key: String, _ outcome: Outcome) {
        state.withLock { state in
            if state.byMapping.count >= 4 * capacity { state.byMapping.removeAll(keepingCapacity: true) }
            state.byMapping[key] = outcome
        }
    }
}

/// Seconds of CLOCK_MONOTONIC.
func monotonicSeconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec)
}
