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
    /// Turn on the kernel's BPF run-time statistics (run count and time per program).
    public var programStatistics = false

    public init() {}
}

/// CPU stacks walked with frame pointers in BPF (`bpf/profile.bpf.c`): a
/// CPU-clock perf event per online CPU in frequency mode, counts aggregated
/// in a BPF hash map per (pid, tid, user stack, kernel stack, span).
public final class FramePointerStackSource: StackSource {
    public let configuration: SamplingConfiguration
    private var skeleton: UnsafeMutablePointer<profile_bpf>?
    private var links: [OpaquePointer] = []
    private var perfEvents: [Int32] = []
    private var missingStacks: UInt64 = 0
    private var stackUsage = StackCountMaps.Usage()
    private var statsFD: Int32 = -1

    public init(configuration: SamplingConfiguration) {
        self.configuration = configuration
    }

    deinit { stop() }

    /// Number of perf events attached (one per online CPU).
    public var attachedCPUs: Int { links.count }

    public func start() throws(AgentError) {
        guard skeleton == nil else { return }
        BPFLog.capture()
        BPFLog.clear()
        if configuration.programStatistics {
            statsFD = bpf_enable_stats(BPF_STATS_RUN_TIME)  // stays on while the fd is open
        }
        do {
            try open()
            try load()
            try attach()
        } catch {
            stop()
            throw error
        }
    }

    private func open() throws(AgentError) {
        var options = bpf_object_open_opts()
        options.sz = MemoryLayout<bpf_object_open_opts>.size
        let btf = configuration.btfPath.map { strdup($0) }
        defer { btf.map { free($0) } }
        if let btf { options.btf_custom_path = UnsafePointer(btf) }
        guard let opened = profile_bpf__open_opts(&options) else {
            throw .bpfLoadFailed(object: "profile", reason: errnoText(errno), verifierLog: BPFLog.tail())
        }
        skeleton = opened
        let maps = opened.pointee.maps
        opened.pointee.rodata.pointee.filter_by_pid = !configuration.pids.isEmpty
        opened.pointee.rodata.pointee.include_idle = configuration.includeIdle
        opened.pointee.rodata.pointee.exclude_kernel_threads = configuration.excludeKernelThreads
        opened.pointee.rodata.pointee.span_salt = spanSalt()
        // At higher frequencies one drain holds more stacks: never below what the frequency needs.
        let stackEntries = max(configuration.stackEntries, SamplingConfiguration.stackEntries(cpus: onlineCPUs().count, frequency: configuration.frequency))
        for (map, size) in [(maps.counts, configuration.countEntries), (maps.stacks, stackEntries)] {
            let err = bpf_map__set_max_entries(map, size)
            if err != 0 { throw .bpfLoadFailed(object: "profile", reason: "cannot size map: \(errnoText(err))", verifierLog: []) }
        }
    }

    private func load() throws(AgentError) {
        guard let skeleton else { return }
        MapSizeOverrides.apply(to: skeleton.pointee.obj)
        let err = profile_bpf__load(skeleton)
        guard err == 0 else {
            throw .bpfLoadFailed(object: "profile", reason: errnoText(err), verifierLog: BPFLog.tail())
        }
        let targets = bpf_map__fd(skeleton.pointee.maps.target_pids)
        var one: UInt8 = 1
        for var pid in configuration.pids {
            if bpf_map_update_elem(targets, &pid, &one, UInt64(BPF_ANY)) != 0 {
                throw .mapAccessFailed(map: "target_pids", reason: errnoText(errno))
            }
        }
    }

    private func attach() throws(AgentError) {
        guard let skeleton else { return }
        let program = skeleton.pointee.progs.profile_sample
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
            links.append(link)
        }
        guard !links.isEmpty else { throw .perfEventFailed(cpu: -1, reason: "no online CPU accepted a perf event") }
    }

    public func stop() {
        for link in links { bpf_link__destroy(link) }
        links.removeAll()
        for fd in perfEvents { close(fd) }
        perfEvents.removeAll()
        if let skeleton { profile_bpf__destroy(skeleton) }
        skeleton = nil
        if statsFD >= 0 { close(statsFD) }
        statsFD = -1
    }

    /// Run count and run time of the sampling program (zero unless
    /// `programStatistics` is on, or BPF stats are enabled system-wide).
    public func programStatistics() -> [BPFProgramStatistics] {
        // Turning the kernel's BPF statistics on needs CAP_SYS_ADMIN (or sysctl
        // kernel.bpf_stats_enabled=1): without them the counters stay 0, so none are reported.
        guard let skeleton, statsFD >= 0 || readWholeFile("/proc/sys/kernel/bpf_stats_enabled").map({ $0.first == UInt8(ascii: "1") }) == true else { return [] }
        var info = bpf_prog_info()
        var length = UInt32(MemoryLayout<bpf_prog_info>.size)
        let fd = bpf_program__fd(skeleton.pointee.progs.profile_sample)
        guard bpf_obj_get_info_by_fd(fd, &info, &length) == 0 else { return [] }
        return [BPFProgramStatistics(name: "profile_sample", runCount: info.run_cnt, runTimeNanoseconds: info.run_time_ns)]
    }

    public func drain() throws(AgentError) -> [RawStack] {
        guard let skeleton else { return [] }
        let maps = StackCountMaps(counts: bpf_map__fd(skeleton.pointee.maps.counts), stacks: bpf_map__fd(skeleton.pointee.maps.stacks),
                                  capacity: Int(configuration.countEntries), stackCapacity: Int(configuration.stackEntries),
                                  clearing: .afterEachDrain, name: "counts")
        return try maps.drain(missing: &missingStacks, usage: &stackUsage)
    }

    public func statistics() -> SamplingStatistics {
        guard let skeleton else { return SamplingStatistics() }
        return StackCountMaps.statistics(bpf_map__fd(skeleton.pointee.maps.profile_stats), missing: missingStacks)
    }

    /// File descriptors of the maps other BPF objects share with this one
    /// (the process filter and the per-thread spans); -1 before `start`.
    public var sharedMaps: SharedSpanMaps {
        guard let skeleton else { return SharedSpanMaps(targetPIDs: -1, syscallSpans: -1, eventSpans: -1) }
        return SharedSpanMaps(targetPIDs: bpf_map__fd(skeleton.pointee.maps.target_pids),
                              syscallSpans: bpf_map__fd(skeleton.pointee.maps.syscall_spans),
                              eventSpans: bpf_map__fd(skeleton.pointee.maps.event_spans))
    }
}

/// The span maps created with the sampler and reused by the tracers' objects.
public struct SharedSpanMaps: Sendable {
    public var targetPIDs: Int32
    public var syscallSpans: Int32
    /// DNS / TLS calls in progress (they enclose syscalls).
    public var eventSpans: Int32
}

/// A NUL-padded C char array as a String.
func commString<T>(_ tuple: T) -> String {
    withUnsafeBytes(of: tuple) { raw in
        let bytes = raw.prefix { $0 != 0 }
        return String(decoding: bytes, as: UTF8.self)
    }
}
