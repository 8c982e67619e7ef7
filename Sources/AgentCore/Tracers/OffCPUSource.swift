import CBPF
import Foundation

/// What the off-CPU tracer records.
public struct OffCPUConfiguration: Sendable {
    /// Blocks shorter than this are not counted.
    public var minimumBlockNanoseconds: UInt64 = 1_000_000
    public var countEntries: UInt32 = 16384
    /// Off-CPU stack ids stay valid across drains; the map is emptied at 25% use.
    public var stackEntries: UInt32 = 8192
    public var excludeKernelThreads = true
    public init() {}
}

/// Off-CPU time by stack (`bpf/offcpu.bpf.c` on sched_switch): a `StackSource`
/// whose counts are nanoseconds blocked, labelled with the thread's span.
public final class OffCPUSource: StackSource {
    public let configuration: OffCPUConfiguration
    private let shared: SharedSpanMaps
    private let filterByPID: Bool
    private var skeleton: UnsafeMutablePointer<offcpu_bpf>?
    private var links: [OpaquePointer] = []
    private var missingStacks: UInt64 = 0
    private var stackUsage = StackCountMaps.Usage()
    public private(set) var variant: AttachVariant?

    public init(configuration: OffCPUConfiguration, shared: SharedSpanMaps, filterByPID: Bool) {
        self.configuration = configuration
        self.shared = shared
        self.filterByPID = filterByPID
    }

    deinit { stop() }

    public func start() throws(AgentError) {
        variant = try attachPreferringBTF(load: { (v: AttachVariant) throws(AgentError) in try load(v) }, stop: stop)
    }

    private func load(_ variant: AttachVariant) throws(AgentError) {
        BPFLog.clear()
        guard let skel = offcpu_bpf__open() else {
            throw .bpfLoadFailed(object: "offcpu", reason: errnoText(errno), verifierLog: BPFLog.tail())
        }
        skeleton = skel
        let progs = skel.pointee.progs
        for program in variant == .tpBTF ? [progs.offcpu_switch_raw, progs.offcpu_task_exit_raw] : [progs.offcpu_switch_btf, progs.offcpu_task_exit_btf] {
            bpf_program__set_autoload(program, false)
        }
        let rodata = skel.pointee.rodata!
        rodata.pointee.filter_by_pid = filterByPID
        rodata.pointee.exclude_kernel_threads = configuration.excludeKernelThreads
        rodata.pointee.min_block_ns = configuration.minimumBlockNanoseconds
        rodata.pointee.span_salt = spanSalt()
        let maps = skel.pointee.maps
        try shared.adopt(targetPIDs: maps.target_pids, syscallSpans: maps.syscall_spans, eventSpans: maps.event_spans, object: "offcpu")
        bpf_map__set_max_entries(maps.offcpu_counts, configuration.countEntries)
        bpf_map__set_max_entries(maps.offcpu_stacks, configuration.stackEntries)
        MapSizeOverrides.apply(to: skel.pointee.obj)
        let err = offcpu_bpf__load(skel)
        guard err == 0 else { throw .bpfLoadFailed(object: "offcpu (\(variant.rawValue))", reason: errnoText(err), verifierLog: BPFLog.tail()) }
        links = try attachAutoloaded([progs.offcpu_switch_btf, progs.offcpu_switch_raw, progs.offcpu_task_exit_btf, progs.offcpu_task_exit_raw],
                                     object: "offcpu")
    }

    public func stop() {
        for link in links { bpf_link__destroy(link) }
        links.removeAll()
        if let skeleton { offcpu_bpf__destroy(skeleton) }
        skeleton = nil
    }

    public func drain() throws(AgentError) -> [RawStack] {
        guard let skeleton else { return [] }
        let maps = StackCountMaps(counts: bpf_map__fd(skeleton.pointee.maps.offcpu_counts),
                                  stacks: bpf_map__fd(skeleton.pointee.maps.offcpu_stacks),
                                  capacity: Int(configuration.countEntries), stackCapacity: Int(configuration.stackEntries),
                                  clearing: .wholesale, name: "offcpu_counts")
        return try maps.drain(missing: &missingStacks, usage: &stackUsage)
    }

    public func statistics() -> SamplingStatistics {
        guard let skeleton else { return SamplingStatistics() }
        return StackCountMaps.statistics(bpf_map__fd(skeleton.pointee.maps.offcpu_stats), missing: missingStacks)
    }
}
