import CBPF

/// Makes the CPU stack source for a configuration: the one place that knows
/// which unwinders exist.
public enum StackSources {
    public static func make(_ configuration: SamplingConfiguration, context: BPFLoadContext) -> any StackSource {
        PerfEventStackSource(configuration: configuration, context: context)
    }

    /// Whether user stacks are walked with unwind tables: `auto` when the kernel
    /// can (5.8+; told through `report` when not), `dwarf` or an error.
    public static func usesUnwindTables(_ mode: UnwinderMode, report: (String) -> Void) throws(AgentError) -> Bool {
        guard mode != .fp else { return false }
        guard let reason = UnwindKernelFeatures.minimumMissing else {
            if !UnwindKernelFeatures.probed.contains(.taskRegisters) {
                report("profiler-agent: table unwinder on a kernel without bpf_task_pt_regs (before 5.15): "
                       + "user registers read from the top of each task's kernel stack")
            }
            return true
        }
        if mode == .dwarf { throw .invalidOption("--unwinder dwarf: \(reason)") }
        report("profiler-agent: \(reason); user stacks are walked with frame pointers")
        return false
    }
}
