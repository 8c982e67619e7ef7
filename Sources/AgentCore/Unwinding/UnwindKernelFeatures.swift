import CBPF
import Foundation

/// What the running kernel offers the table unwinder (`enum unwind_kernel_feature`
/// in `bpf/unwind.h`), probed once with libbpf and handed to the BPF objects as
/// read-only data. Without a feature the unwinder takes another way to the same
/// stacks (`bpf/unwind.bpf.h`); it needs only Linux 5.8 (`minimumMissing`).
public struct UnwindKernelFeatures: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// `bpf_task_pt_regs` (5.15+) and `bpf_get_current_task_btf` (5.11+); else the
    /// user registers of a task in the kernel are read from the top of its kernel stack.
    public static let taskRegisters = UnwindKernelFeatures(rawValue: UNWIND_KERNEL_TASK_REGS.rawValue)

    /// Test knob: `PROFILER_AGENT_UNWIND_WITHOUT="task_regs"` makes the agent
    /// behave as on a kernel without that feature (the tests run the pre-5.15
    /// path on this kernel with it).
    static let hiddenVariable = "PROFILER_AGENT_UNWIND_WITHOUT"

    /// This kernel's features, minus those hidden by `PROFILER_AGENT_UNWIND_WITHOUT`.
    public static let probed: UnwindKernelFeatures = {
        var features: UnwindKernelFeatures = []
        if libbpf_probe_bpf_helper(BPF_PROG_TYPE_PERF_EVENT, BPF_FUNC_task_pt_regs, nil) == 1,
           libbpf_probe_bpf_helper(BPF_PROG_TYPE_PERF_EVENT, BPF_FUNC_get_current_task_btf, nil) == 1 {
            features.insert(.taskRegisters)
        }
        for name in (ProcessInfo.processInfo.environment[hiddenVariable] ?? "").split(separator: ",") {
            if name.trimmingCharacters(in: .whitespaces) == "task_regs" { features.remove(.taskRegisters) }
        }
        return features
    }()

    /// Whether the process map (`unwind_processes`, 8 KiB per process) can be
    /// allocated on use: a perf_event program may use a hash map without
    /// preallocation only from 6.1 on. Before, it is preallocated.
    public static let dynamicProcessMap: Bool = cbpf_probe_perf_event_dynamic_hash() == 1

    /// Why this kernel cannot run the table unwinder at all (before 5.8), nil when it can.
    public static var minimumMissing: String? {
        if libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nil) != 1 {
            return "this kernel has no BPF ring buffer (Linux 5.8+): the table unwinder cannot run"
        }
        if libbpf_probe_bpf_helper(BPF_PROG_TYPE_PERF_EVENT, BPF_FUNC_probe_read_user, nil) != 1 {
            return "this kernel has no bpf_probe_read_user (Linux 5.5+): the table unwinder cannot run"
        }
        return nil
    }
}
