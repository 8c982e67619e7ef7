import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// The JIT perf maps of the profiled processes (`/tmp/perf-PID.map`, PID as the
/// process sees itself), read through `/proc/PID/root` and tailed as they grow.
///
/// A map is used only if it is a regular file owned by root or by the process's
/// user (as `perf` requires), opened without leaving the process's root
/// (`RootedPath`: a symlink cannot point the agent at its own files) and
/// without blocking (a FIFO is refused). It is looked at again at most once per
/// `checkInterval` per process; each look reads only what was appended (after
/// checking that the bytes it read last are still there), at most
/// `maximumFileBytes` in all (256 MiB). Memory is bounded: at most `maximumEntries`
/// entries over all processes, the least recently used process dropped first.
public final class PerfMaps: Sendable {
    public struct Statistics: Sendable, Equatable {
        /// Processes whose perf map is being read.
        public var files = 0
        /// Entries held over all processes.
        public var entries = 0
        /// Lines that did not parse.
        public var malformedLines = 0
        /// Frames named from a perf map.
        public var named: UInt64 = 0
        /// Maps refused (not a regular file, wrong owner) or cut (too large, too many entries).
        public var refused: UInt64 = 0
        public init() {}
    }

    /// Bytes of one map read at most (a longer file is cut there).
    public static let defaultMaximumFileBytes: UInt64 = 256 << 20
    /// Entries held at most over all processes (one process holds at most half).
    public static let maximumEntries = 1 << 19
    /// Bytes before the read position compared at each look, to tell growth from a rewrite.
    static let tailBytes = 64
    /// How long a process's map is kept after it was last used.
    static let idleSeconds: UInt64 = 120

    private struct ProcessMap {
        var table = PerfMapTable()
        /// The path inside the process ("/tmp/perf-123.map"), "" until its status was read.
        var path = ""
        var owners: Set<UInt32> = []
        var file: (device: UInt64, inode: UInt64)?
        var consumed: UInt64 = 0
        /// The last bytes read (up to `consumed`): found again there when the file only grew.
        var tail: [UInt8] = []
        var checkedAt: UInt64 = 0
        var usedAt: UInt64 = 0
        var cut = false
    }

    private struct State {
        var byPID: [Int32: ProcessMap] = [:]
        var statistics = Statistics()
    }

    private let procRoot: String
    private let checkNanoseconds: UInt64
    private let maximumFileBytes: UInt64
    /// Bytes read from a map in one look (the rest is read by the next looks).
    private let readChunkBytes: Int
    private let state = Locked(State())

    /// `checkInterval`: how often (seconds) one process's map is looked at again.
    public init(procRoot: String = "/proc", checkInterval: Double = 1, maximumFileBytes: UInt64 = defaultMaximumFileBytes,
                readChunkBytes: Int = 16 << 20) {
        self.procRoot = procRoot
        self.checkNanoseconds = UInt64(checkInterval * 1e9)
        self.maximumFileBytes = maximumFileBytes
        self.readChunkBytes = readChunkBytes
    }

    public var statistics: Statistics {
        state.withLock { state in
            var statistics = state.statistics
            statistics.files = state.byPID.values.filter { $0.file != nil }.count
            statistics.entries = state.byPID.values.reduce(0) { $0 + $1.table.count }
            statistics.malformedLines = state.byPID.values.reduce(0) { $0 + $1.table.malformedLines } + state.statistics.malformedLines
            return statistics
        }
    }

    /// The name the JIT of `pid` gave the code at `address`, nil when it has no
    /// perf map or the map does not cover `address`.
    public func name(pid: Int32, address: UInt64) -> String? {
        let now = DispatchTime.now().uptimeNanoseconds
        return state.withLock { state in
            var map = state.byPID.removeValue(forKey: pid) ?? ProcessMap()
            map.usedAt = now
            if map.checkedAt == 0 || now - map.checkedAt >= checkNanoseconds {
                map.checkedAt = now
                refresh(&map, pid: pid, statistics: &state.statistics)
                evict(&state, now: now)
            }
            let name = map.table.name(at: address)
            if name != nil { state.statistics.named += 1 }
            state.byPID[pid] = map
            return name
        }
    }

    /// The path of `pid`'s perf map as the process sees it ("/tmp/perf-NSPID.map").
    public func path(pid: Int32) -> String {
        state.withLock { $0.byPID[pid]?.path ?? "/tmp/perf-\(pid).map" }
    }

    private func refresh(_ map: inout ProcessMap, pid: Int32, statistics: inout Statistics) {
        if map.path.isEmpty {
            guard let status = readWholeFile("\(procRoot)/\(pid)/status", limit: 1 << 16) else { return }
            let (namespacePID, owners) = Self.parseStatus(String(decoding: status, as: UTF8.self))
            map.path = "/tmp/perf-\(namespacePID ?? pid).map"
            map.owners = owners.union([0])
        }
        let source: FileByteSource
        do {
            source = try FileByteSource(path: map.path, in: "\(procRoot)/\(pid)/root") { identity in
                map.owners.contains(identity.owner)
            }
        } catch {
            // Absent (most processes), or refused: a file that is not a regular file, or not
            // the process's own. Either way nothing is read; a map read before is kept.
            if case .cannotOpen(_, let reason) = error, reason != String(cString: strerror(ENOENT)) {
                if map.file == nil && !map.cut { statistics.refused += 1; map.cut = true }
            }
            return
        }
        let identity = source.identity
        let tailStart = map.consumed - UInt64(map.tail.count)
        if let file = map.file, file != (identity.device, identity.inode) || identity.size < map.consumed
            || (try? source.read(offset: tailStart, count: map.tail.count)) != map.tail {
            // Replaced, truncated, or rewritten in place (`jcmd PID Compiler.perfmap` again): start over.
            statistics.malformedLines += map.table.malformedLines
            map.table = PerfMapTable()
            map.consumed = 0
            map.tail = []
            map.cut = false
        }
        map.file = (identity.device, identity.inode)
        let end = min(identity.size, maximumFileBytes)
        guard end > map.consumed else {
            if identity.size > maximumFileBytes && !map.cut { statistics.refused += 1; map.cut = true }
            return
        }
        let count = Int(min(end - map.consumed, UInt64(readChunkBytes)))
        guard let bytes = try? source.read(offset: map.consumed, count: count) else { return }
        let before = map.table.count
        var used = map.table.append(parsing: bytes[...], limit: Self.maximumEntries / 2)
        // No newline in a whole chunk, or in the last bytes before the limit: skip them.
        if used == 0 && (count == readChunkBytes || map.consumed + UInt64(count) == maximumFileBytes) { used = count }
        map.consumed += UInt64(used)
        map.tail = Array(bytes[max(0, used - Self.tailBytes)..<used])
        if map.table.count == before, map.table.count >= Self.maximumEntries / 2, !map.cut { statistics.refused += 1; map.cut = true }
    }

    /// Keeps the total number of entries within `maximumEntries` and forgets maps not used
    /// for `idleSeconds`, least recently used first.
    private func evict(_ state: inout State, now: UInt64) {
        var total = state.byPID.values.reduce(0) { $0 + $1.table.count }
        guard total > Self.maximumEntries || state.byPID.count > 4096
            || state.byPID.values.contains(where: { now - $0.usedAt > Self.idleSeconds * 1_000_000_000 }) else { return }
        for (pid, map) in state.byPID.sorted(by: { $0.value.usedAt < $1.value.usedAt }) {
            let idle = now - map.usedAt > Self.idleSeconds * 1_000_000_000
            guard idle || total > Self.maximumEntries || state.byPID.count > 4096 else { break }
            state.statistics.malformedLines += map.table.malformedLines
            total -= map.table.count
            state.byPID[pid] = nil
        }
    }

    /// The process's pid in its own namespace (the last `NSpid` column) and its user ids (`Uid`).
    static func parseStatus(_ text: String) -> (namespacePID: Int32?, owners: Set<UInt32>) {
        var namespacePID: Int32?
        var owners: Set<UInt32> = []
        for line in text.split(separator: "\n") {
            if line.hasPrefix("NSpid:") {
                namespacePID = line.split(whereSeparator: { $0 == "\t" || $0 == " " }).last.flatMap { Int32($0) }
            } else if line.hasPrefix("Uid:") {
                owners = Set(line.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().compactMap { UInt32($0) })
            }
        }
        return (namespacePID, owners)
    }
}
