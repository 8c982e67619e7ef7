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
/// `maximumFileBytes` in all (256 MiB). A map is dropped when its process is
/// gone and the pid has a new process (another start time). Memory is bounded:
/// at most `maximumEntries` entries and `maximumBytes` over all processes (one
/// process at most half of each), the least recently used process dropped first.
public final class PerfMaps: Sendable {
    public struct Statistics: Sendable, Equatable {
        /// Processes whose perf map is being read.
        public var files = 0
        /// Entries held over all processes.
        public var entries = 0
        /// About what they take in memory (entries and names).
        public var bytes = 0
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
    /// Memory held at most over all processes (one process holds at most half).
    public static let maximumBytes = 64 << 20
    /// Bytes before the read position compared at each look, to tell growth from a rewrite.
    static let tailBytes = 64
    /// How long a process's map is kept after it was last used.
    static let idleSeconds: UInt64 = 120

    private struct ProcessMap {
        var table = PerfMapTable()
        /// The path inside the process ("/tmp/perf-123.map"), "" until its status was read.
        var path = ""
        var owners: Set<UInt32> = []
        /// The process's start time (`/proc/PID/stat`), to tell a reused pid.
        var startTime: UInt64?
        var file: (device: UInt64, inode: UInt64)?
        var consumed: UInt64 = 0
        /// The last bytes read (up to `consumed`): found again there when the file only grew.
        var tail: [UInt8] = []
        var checkedAt: UInt64 = 0
        var usedAt: UInt64 = 0
        /// Cut at a limit (counted once in `refused`).
        var cut = false
        /// Refused at open (counted once in `refused`).
        var refusedOpen = false
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
            statistics.bytes = state.byPID.values.reduce(0) { $0 + $1.table.memoryBytes }
            statistics.malformedLines = state.byPID.values.reduce(0) { $0 + $1.table.malformedLines } + state.statistics.malformedLines
            return statistics
        }
    }

    /// The name the JIT of `pid` gave the code at `address`, nil when it has no
    /// perf map or the map does not cover `address`.
    public func name(pid: Int32, address: UInt64) -> String? { symbol(pid: pid, address: address)?.name }

    /// The same, with the map's path as the process sees it ("/tmp/perf-NSPID.map").
    public func symbol(pid: Int32, address: UInt64) -> (name: String, path: String)? {
        state.withLock { state in
            // Read under the lock: times only grow, so `now - checkedAt` cannot wrap.
            let now = DispatchTime.now().uptimeNanoseconds
            var map = state.byPID.removeValue(forKey: pid) ?? ProcessMap()
            map.usedAt = now
            var refreshed = false
            if map.checkedAt == 0 || now - map.checkedAt >= checkNanoseconds {
                map.checkedAt = now
                refresh(&map, pid: pid, statistics: &state.statistics)
                refreshed = true
            }
            let name = map.table.name(at: address)
            if name != nil { state.statistics.named += 1 }
            let path = map.path
            state.byPID[pid] = map
            if refreshed { evict(&state, now: now, keeping: pid) }
            return name.map { ($0, path) }
        }
    }

    /// The path of `pid`'s perf map as the process sees it ("/tmp/perf-NSPID.map").
    public func path(pid: Int32) -> String {
        state.withLock { $0.byPID[pid]?.path ?? "/tmp/perf-\(pid).map" }
    }

    private func refresh(_ map: inout ProcessMap, pid: Int32, statistics: inout Statistics) {
        // A pid reused by a new process: nothing of the old one's map applies.
        let started = Self.startTime(readWholeFile("\(procRoot)/\(pid)/stat", limit: 1 << 12) ?? [])
        if let started, let known = map.startTime, started != known {
            statistics.malformedLines += map.table.malformedLines
            map = ProcessMap(checkedAt: map.checkedAt, usedAt: map.usedAt)
        }
        if let started { map.startTime = started }
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
                if map.file == nil && !map.refusedOpen { statistics.refused += 1; map.refusedOpen = true }
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
        var used = map.table.append(parsing: bytes[...], limit: Self.maximumEntries / 2, byteLimit: Self.maximumBytes / 2)
        // No newline in a whole chunk, or in the last bytes before the limit: skip them.
        if used == 0 && (count == readChunkBytes || map.consumed + UInt64(count) == maximumFileBytes) { used = count }
        map.consumed += UInt64(used)
        if used > 0 { map.tail = Array((map.tail + bytes[..<used]).suffix(Self.tailBytes)) }
        let full = map.table.count >= Self.maximumEntries / 2 || map.table.memoryBytes >= Self.maximumBytes / 2
        if map.table.count == before, full, !map.cut { statistics.refused += 1; map.cut = true }
    }

    /// Keeps the totals within `maximumEntries` and `maximumBytes` and forgets maps not
    /// used for `idleSeconds`, least recently used first (never `keeping`'s, just used).
    private func evict(_ state: inout State, now: UInt64, keeping: Int32) {
        var entries = state.byPID.values.reduce(0) { $0 + $1.table.count }
        var bytes = state.byPID.values.reduce(0) { $0 + $1.table.memoryBytes }
        func over() -> Bool { entries > Self.maximumEntries || bytes > Self.maximumBytes || state.byPID.count > 4096 }
        let idle = Self.idleSeconds * 1_000_000_000
        guard over() || state.byPID.values.contains(where: { now - $0.usedAt > idle }) else { return }
        for (pid, map) in state.byPID.sorted(by: { $0.value.usedAt < $1.value.usedAt }) where pid != keeping {
            guard now - map.usedAt > idle || over() else { break }
            state.statistics.malformedLines += map.table.malformedLines
            entries -= map.table.count
            bytes -= map.table.memoryBytes
            state.byPID[pid] = nil
        }
    }

    /// The start time (clock ticks after boot, field 22) of `/proc/PID/stat`'s text.
    static func startTime(_ stat: [UInt8]) -> UInt64? {
        guard let close = stat.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let fields = stat[(close + 1)...].split(separator: UInt8(ascii: " "))
        guard fields.count > 19 else { return nil }
        return UInt64(String(decoding: fields[19], as: UTF8.self))
    }

    /// The process's pid in its own namespace (the last `NSpid` column) and its user ids (`Uid`).
    static func parseStatus(_ text: String) -> (namespacePID: Int32?, owners: Set<UInt32>) {
        var namespacePID: Int32?
        var owners: Set<UInt32> = []
        /// The process's start time (`/proc/PID/stat`), to tell a reused pid.
        var startTime: UInt64?
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
