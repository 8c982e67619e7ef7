import CBPF
import Symbolizer
import Foundation

/// How CPU stacks are sampled.
public struct SamplingConfiguration: Sendable {
    /// Samples per second per CPU.
    public var frequency = 97
    /// Processes to sample; empty samples every process. Applied in the kernel.
    public var pids: [Int32] = []
    /// Capacity of the (pid, tid, stacks, span) → count map.
    public var countEntries: UInt32 = 16384
    /// Capacity of the stack map (each entry holds up to 127 frames: 1 KiB). It is
    /// emptied every drain, so it needs room for one drain's samples, kept 8x sparse
    /// (stack maps do not chain: a collision loses the stack): by default
    /// 8 x 97 Hz x online CPUs, rounded up to a power of two, at least 2048.
    public var stackEntries: UInt32 = SamplingConfiguration.stackEntries(cpus: onlineCPUs().count, frequency: 97)

    /// The stack-map size for one second of samples at `frequency` on `cpus` CPUs, 8x sparse.
    public static func stackEntries(cpus: Int, frequency: Int) -> UInt32 {
        let wanted = max(2048, 8 * frequency * max(cpus, 1))
        return UInt32(min(1 << 20, 1 << (Int.bitWidth - (wanted - 1).leadingZeroBitCount)))
    }
    /// Custom BTF file for kernels without /sys/kernel/btf/vmlinux.
    public var btfPath: String?
    /// Also count samples of the idle task.
    public var includeIdle = false
    /// Skip kernel threads (kworker, ksoftirqd, …), in the kernel.
    public var excludeKernelThreads = false
    /// The user-stack walker: unwind tables where the kernel can run them
    /// (Linux 5.8+), frame pointers elsewhere.
    public var unwinder = UnwinderMode.auto
    /// BPF map memory for unwind table rows and their page index (the rules,
    /// files and stacks maps come on top: unwind.h). Beyond it the least
    /// recently sampled files go back to frame pointers.
    public var unwindTableBytes = SamplingConfiguration.defaultUnwindTableBytes
    public static let defaultUnwindTableBytes = 12 << 20

    public init() {}
}

/// CPU stacks sampled in BPF (`bpf/profile.bpf.c`): a CPU-clock perf event per
/// online CPU in frequency mode, counts aggregated in a BPF hash map per (pid,
/// tid, user stack, kernel stack, span). User stacks come from the unwind tables
/// when the context has them (`UnwindTableLoader` keeps every process described),
/// else from the kernel's frame-pointer walk.
public final class PerfEventStackSource: StackSource {
    public let configuration: SamplingConfiguration
    private let context: BPFLoadContext
    private var skeleton: BPFSkeleton<profile_bpf>?
    private var perfEvents: [Int32] = []
    private var missingStacks: UInt64 = 0
    private var stackUsage = StackCountMaps.Usage()
    private var tables: Locked<UnwindTableLoader>?
    private var requests: UnwindRequestReader?
    /// Processes looked at by the loader, and when each was last re-read.
    private var seen: Set<Int32> = []
    private var checked: [Int32: UInt64] = [:]
    private var mapsObserver: (@Sendable (Int32, ProcessMaps) -> Void)?

    public init(configuration: SamplingConfiguration, context: BPFLoadContext) {
        self.configuration = configuration
        self.context = context
    }

    deinit { stop() }

    public var attachedCPUs: Int { skeleton?.links.count ?? 0 }

    public func start() throws(AgentError) {
        guard skeleton == nil else { return }
        do {
            if context.maps.hasUnwindTables {
                let loader = UnwindTableLoader(maps: context.maps)
                loader.refresh(pids: configuration.pids, sampled: [], seen: &seen, checked: &checked)
                let tables = Locked(loader)
                requests = try UnwindRequestReader(mapFD: context.maps.fd(of: "unwind_requests"), tables: tables, mapsObserver: mapsObserver)
                self.tables = tables
            }
            try load()
            try attach()
            if tables != nil {
                // Processes exec'd from now on are described at once (the reader answers within milliseconds).
                try skeleton?.attach(["profile_exec"])
                requests?.start()
            }
        } catch {
            stop()
            throw error
        }
    }

    /// With unwind tables, the maps read when a process exec'd, forked or mapped new code.
    /// (Frame pointers read none: a process gone by the drain keeps no names.)
    public func observeProcessMaps(_ observer: @escaping @Sendable (Int32, ProcessMaps) -> Void) {
        mapsObserver = observer
    }

    private func load() throws(AgentError) {
        let configuration = configuration
        // At higher frequencies one drain holds more stacks: never below what the frequency needs.
        let stackEntries = max(configuration.stackEntries, SamplingConfiguration.stackEntries(cpus: onlineCPUs().count, frequency: configuration.frequency))
        var sizes = ["counts": configuration.countEntries, "stacks": stackEntries]
        if context.maps.hasUnwindTables { sizes["user_stacks"] = UInt32(UNWIND_DEFAULT_USER_STACKS) }
        let unwinder = context.unwinderKind, features = context.unwindFeatures
        skeleton = try BPFSkeleton(.profile, context: context, sizes: sizes) { opened in
            let rodata = opened.pointee.rodata!
            rodata.pointee.unwinder = unwinder
            rodata.pointee.unwind_features = features
            rodata.pointee.filter_by_pid = context.maps.filterByPID
            rodata.pointee.include_idle = configuration.includeIdle
            rodata.pointee.exclude_kernel_threads = configuration.excludeKernelThreads
            rodata.pointee.span_salt = spanSalt()
        }
    }

    private func attach() throws(AgentError) {
        guard let skeleton else { return }
        let program = skeleton.pointer.pointee.progs.profile_sample
        for cpu in onlineCPUs() {
            let fd = cbpf_open_cpu_clock_event(Int32(cpu), UInt64(configuration.frequency))
            if fd == -ENODEV { continue }  // went offline meanwhile
            guard fd >= 0 else {
                var reason = errnoText(fd)
                if fd == -EACCES || fd == -EPERM { reason += "; needs CAP_PERFMON (or a lower kernel.perf_event_paranoid)" }
                throw .perfEventFailed(cpu: cpu, reason: reason)
            }
            perfEvents.append(fd)
            guard let link = bpf_program__attach_perf_event(program, fd) else {
                throw .attachFailed(program: "profile_sample", reason: errnoText(errno) + "\n" + BPFLog.tail(5).joined(separator: "\n"))
            }
            skeleton.keep(link)
        }
        guard skeleton.links.count > 0 else { throw .perfEventFailed(cpu: -1, reason: "no online CPU accepted a perf event") }
    }

    public func stop() {
        skeleton = nil  // detaches the links, then unloads
        requests?.stop()
        requests = nil
        tables = nil
        for fd in perfEvents { close(fd) }
        perfEvents.removeAll()
    }

    public func programs() -> [(name: String, fd: Int32)] {
        skeleton.map { loadedPrograms($0.object) } ?? []
    }

    public func drain() throws(AgentError) -> [RawStack] {
        guard let skeleton else { return [] }
        var maps = StackCountMaps(counts: skeleton.mapFD("counts"), stacks: skeleton.mapFD("stacks"),
                                  capacity: Int(configuration.countEntries), stackCapacity: Int(configuration.stackEntries),
                                  clearing: .afterEachDrain, name: "counts")
        guard let tables else { return try maps.drain(missing: &missingStacks, usage: &stackUsage) }
        maps.userStacks = skeleton.mapFD("user_stacks")
        let stacks = try maps.drain(missing: &missingStacks, usage: &stackUsage)
        // New processes get their tables for the next samples; sampled ones are re-read now and then (dlopen).
        // (Sampled processes also keep their files' tables from eviction.)
        let sampled = Set(stacks.lazy.filter { $0.frames.contains { if case .native = $0 { true } else { false } } }.map(\.pid))
        let pids = configuration.pids
        tables.withLock { $0.refresh(pids: pids, sampled: sampled, seen: &seen, checked: &checked) }
        return stacks
    }

    public func unwindStatus() -> UnwindStatus {
        var status = UnwindStatus()
        guard let tables else { return status }
        let s = tables.withLock { $0.statistics }
        status.mode = "dwarf"
        status.counters = UnwindCounters.read(context.maps.fd(of: "unwind_stats"))
        status.files = s.files
        status.rows = s.rows
        status.tableBytes = s.bytes
        status.processes = s.processes
        status.filesWithoutTable = s.filesWithoutTable
        status.filesOverBudget = s.filesOverBudget
        status.filesEvicted = s.filesEvicted
        status.buildSeconds = Double(s.buildNanoseconds) / 1e9
        (status.python, status.interpreterProcesses) = tables.withLock { ($0.python.counters(), $0.python.counts) }
        if let r = requests?.statistics {
            status.requests = Dictionary(uniqueKeysWithValues: zip(UnwindRequestReader.reasons, r.requests))
            status.requestsAnswered = r.answered
            status.requestLatencySecondsSum = r.latencySecondsSum
            status.requestLatencySecondsMax = r.latencySecondsMax
        }
        return status
    }

    public func statistics() -> SamplingStatistics {
        guard let skeleton else { return SamplingStatistics() }
        return StackCountMaps.statistics(skeleton.mapFD("profile_stats"), missing: missingStacks)
    }
}

/// A NUL-padded C char array as a String.
func commString<T>(_ tuple: T) -> String {
    withUnsafeBytes(of: tuple) { raw in
        let bytes = raw.prefix { $0 != 0 }
        return String(decoding: bytes, as: UTF8.self)
    }
}
