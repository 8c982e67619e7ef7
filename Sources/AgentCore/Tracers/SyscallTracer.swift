import CBPF
import Foundation

/// Syscall latency (`bpf/syscalls.bpf.c`): opens a span per syscall on every
/// thread (the CPU and off-CPU samplers label the thread's stacks with it) and
/// counts durations in log2 buckets per syscall number, with an exemplar per bucket.
public final class SyscallTracer {
    private var skeleton: BPFSkeleton<syscalls_bpf>?
    private var perProcess = false
    public private(set) var variant: AttachVariant?

    public init() {}
    deinit { stop() }

    /// Loads and attaches, sharing the span and pid-filter maps of `context`.
    /// `processEntries` > 0 also counts per process (for per-container series)
    /// in a map of that many (process, syscall, bucket) rows, emptied every drain.
    public func start(context: BPFLoadContext, processEntries: Int = 0) throws(AgentError) {
        variant = try attachPreferringBTF(load: { (v: AttachVariant) throws(AgentError) in
            try load(v, context: context, processEntries: processEntries)
        }, stop: stop)
    }

    private func load(_ variant: AttachVariant, context: BPFLoadContext, processEntries: Int) throws(AgentError) {
        let btf = ["syscall_enter_btf", "syscall_exit_btf", "syscall_task_exit_btf"]
        let raw = ["syscall_enter_raw", "syscall_exit_raw", "syscall_task_exit_raw"]
        let skeleton = try BPFSkeleton(.syscalls, label: "syscalls (\(variant.rawValue))", context: context,
                                       sizes: ["syscall_process_hist": UInt32(max(processEntries, 1))]) { opened in
            disableAutoload(opened.pointee.obj, programs: variant == .tpBTF ? raw : btf)
            let rodata = opened.pointee.rodata!
            rodata.pointee.filter_by_pid = context.maps.filterByPID
            rodata.pointee.span_salt = spanSalt()
            rodata.pointee.per_process = processEntries > 0
            rodata.pointee.unwinder = context.unwinderKind
            rodata.pointee.unwind_features = context.unwindFeatures
            rodata.pointee.exemplar_interval_ns = context.exemplarIntervalNanoseconds
        }
        try skeleton.attach(variant == .tpBTF ? btf : raw)
        self.skeleton = skeleton
        perProcess = processEntries > 0
    }

    public func stop() {
        skeleton = nil
    }

    /// The programs in the kernel, by name.
    func programs() -> [(name: String, fd: Int32)] { skeleton.map { loadedPrograms($0.object) } ?? [] }

    /// Takes the per-process counts gathered since the last call (empty unless
    /// started with `processEntries`).
    public func drainProcessCounts() -> [ProcessSyscallCount] {
        guard let skeleton, perProcess else { return [] }
        let map = skeleton.pointer.pointee.maps.syscall_process_hist
        // Batched lookup-and-delete (atomic per bucket): nothing counted meanwhile is lost.
        let entries = (try? BPFHashMap<process_syscall_key, process_syscall_value>(
            fd: bpf_map__fd(map), name: "syscall_process_hist", capacity: Int(bpf_map__max_entries(map))).drain()) ?? []
        let counts = entries.map { key, value in
            ProcessSyscallCount(
                pid: Int32(bitPattern: key.pid), number: Int(key.nr), bucket: Int(key.bucket), count: value.count,
                sumNanoseconds: value.sum_ns, cgroupID: value.cgroup_id,
                exemplar: LatencyExemplar(value.exemplar))
        }
        return counts
    }

    /// Events counted only node-wide because the per-process map was full.
    public var processMapFull: UInt64 { statistic(SYSCALL_STAT_PROCESS_MAP_FULL) }
    /// Syscalls not timed because the per-thread span map had no room.
    public var spansFull: UInt64 { statistic(SYSCALL_STAT_SPANS_FULL) }

    private func statistic(_ index: syscall_stat) -> UInt64 {
        guard let skeleton else { return 0 }
        return StackCountMaps.perCPUCounters(skeleton.mapFD("syscall_stats"),
                                             count: Int(SYSCALL_STAT_COUNT.rawValue))[Int(index.rawValue)]
    }

    /// The histograms as they stand (cumulative since start).
    public func snapshot() -> SyscallLatencySnapshot? {
        guard let skeleton else { return nil }
        let rows = readArrayMap(skeleton.mapFD("syscall_hist"), count: Int(SYSCALL_SLOTS), zero: latency_histogram())
        var series: [SyscallLatencySnapshot.Series] = []
        for (nr, row) in rows.enumerated() {
            let histogram = LatencyHistogram(row)
            guard histogram.buckets.contains(where: { $0 > 0 }) else { continue }
            series.append(.init(number: nr, buckets: histogram.buckets, sumNanoseconds: histogram.sumNanoseconds, exemplars: histogram.exemplars))
        }
        return SyscallLatencySnapshot(series: series)
    }
}

/// One process's syscall events in one latency bucket since the last drain.
public struct ProcessSyscallCount: Sendable {
    public var pid: Int32
    public var number: Int
    public var bucket: Int
    public var count: UInt64
    public var sumNanoseconds: UInt64
    /// cgroup (v2) id of the last event.
    public var cgroupID: UInt64
    public var exemplar: LatencyExemplar?
}

/// One event kept as a histogram bucket's exemplar.
public struct LatencyExemplar: Sendable, Equatable {
    public var spanID: UInt64
    public var durationNanoseconds: UInt64
    /// CLOCK_MONOTONIC nanoseconds (bpf_ktime_get_ns) at the event's end.
    public var endMonotonicNanoseconds: UInt64
    /// The event's process, once the agent holds the span (`ExemplarGate`).
    public var pid: Int32?

    /// The BPF side's record; nil for a bucket that never had an event with a span.
    init?(_ e: latency_exemplar) {
        guard e.span_id != 0 else { return nil }
        self.init(spanID: e.span_id, durationNanoseconds: e.duration_ns, endMonotonicNanoseconds: e.end_ns)
    }

    public init(spanID: UInt64, durationNanoseconds: UInt64, endMonotonicNanoseconds: UInt64) {
        self.spanID = spanID
        self.durationNanoseconds = durationNanoseconds
        self.endMonotonicNanoseconds = endMonotonicNanoseconds
    }
}

/// Syscall latency histograms by syscall number.
public struct SyscallLatencySnapshot: Sendable {
    public struct Series: Sendable {
        public var number: Int
        /// Non-cumulative counts per bucket (`LatencyBuckets.upperBounds`, last = +Inf).
        public var buckets: [UInt64]
        public var sumNanoseconds: UInt64
        public var exemplars: [LatencyExemplar?]
        public var count: UInt64 { buckets.reduce(0, +) }
    }
    public var series: [Series]
}

/// The shared bucket layout of all latency histograms (bpf/latency.h).
public enum LatencyBuckets {
    /// Upper bounds in seconds: 2^i µs for i in 0..<(LATENCY_BUCKETS-1), then +Inf.
    public static let upperBounds: [Double] = (0..<Int(LATENCY_BUCKETS) - 1).map { pow(2, Double($0)) / 1e6 } + [.infinity]
}

/// The name of a syscall number on this architecture ("syscall_N" when unknown).
public func syscallName(_ number: Int) -> String {
    if number == Int(SYSCALL_SLOTS) - 1 { return "other" }
    return x86_64SyscallNames[number] ?? "syscall_\(number)"
}
