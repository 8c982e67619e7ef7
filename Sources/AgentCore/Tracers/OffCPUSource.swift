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

/// Off-CPU time by stack (`bpf/offcpu.bpf.c` on sched_switch): stacks whose
/// counts are nanoseconds blocked, labelled with the thread's span.
public final class OffCPUSource {
    public let configuration: OffCPUConfiguration
    private let context: BPFLoadContext
    private var skeleton: BPFSkeleton<offcpu_bpf>?
    private var missingStacks: UInt64 = 0
    private var stackUsage = StackCountMaps.Usage()
    public private(set) var variant: AttachVariant?

    public init(configuration: OffCPUConfiguration, context: BPFLoadContext) {
        self.configuration = configuration
        self.context = context
    }

    deinit { stop() }

    public func start() throws(AgentError) {
        variant = try attachPreferringBTF(load: { (v: AttachVariant) throws(AgentError) in try load(v) }, stop: stop)
    }

    private func load(_ variant: AttachVariant) throws(AgentError) {
        let btf = ["offcpu_switch_btf", "offcpu_task_exit_btf"], raw = ["offcpu_switch_raw", "offcpu_task_exit_raw"]
        let configuration = configuration, filter = context.maps.filterByPID, unwinder = context.unwinderKind
        let features = context.unwindFeatures
        var sizes = ["offcpu_counts": configuration.countEntries, "offcpu_stacks": configuration.stackEntries]
        if context.maps.hasUnwindTables { sizes["offcpu_user_stacks"] = UInt32(UNWIND_DEFAULT_OFFCPU_USER_STACKS) }
        let skeleton = try BPFSkeleton(.offCPU, label: "offcpu (\(variant.rawValue))", context: context, sizes: sizes) { opened in
            disableAutoload(opened.pointee.obj, programs: variant == .tpBTF ? raw : btf)
            let rodata = opened.pointee.rodata!
            rodata.pointee.filter_by_pid = filter
            rodata.pointee.exclude_kernel_threads = configuration.excludeKernelThreads
            rodata.pointee.min_block_ns = configuration.minimumBlockNanoseconds
            rodata.pointee.span_salt = spanSalt()
            rodata.pointee.unwinder = unwinder
            rodata.pointee.unwind_features = features
        }
        try skeleton.attach(variant == .tpBTF ? btf : raw)
        self.skeleton = skeleton
    }

    /// The programs in the kernel, by name.
    func programs() -> [(name: String, fd: Int32)] { skeleton.map { loadedPrograms($0.object) } ?? [] }

    public func stop() {
        skeleton = nil
    }

    public func drain() throws(AgentError) -> [RawStack] {
        guard let skeleton else { return [] }
        var maps = StackCountMaps(counts: skeleton.mapFD("offcpu_counts"), stacks: skeleton.mapFD("offcpu_stacks"),
                                  capacity: Int(configuration.countEntries), stackCapacity: Int(configuration.stackEntries),
                                  clearing: .wholesale, name: "offcpu_counts")
        if context.maps.hasUnwindTables {
            maps.userStacks = skeleton.mapFD("offcpu_user_stacks")
            maps.userStackCapacity = Int(UNWIND_DEFAULT_OFFCPU_USER_STACKS)
        }
        return try maps.drain(missing: &missingStacks, usage: &stackUsage)
    }

    public func statistics() -> SamplingStatistics {
        guard let skeleton else { return SamplingStatistics() }
        return StackCountMaps.statistics(skeleton.mapFD("offcpu_stats"), missing: missingStacks)
    }
}
