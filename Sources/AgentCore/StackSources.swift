import CBPF

/// Makes the CPU stack source for a configuration: the one place that knows
/// which unwinders exist.
public enum StackSources {
    public static func make(_ configuration: SamplingConfiguration, context: BPFLoadContext) -> any StackSource {
        PerfEventStackSource(configuration: configuration, context: context)
    }

    /// Whether user stacks are walked with unwind tables: `auto` when the kernel
    /// can (`bpf_loop`, 5.17+; told through `report` when not), `dwarf` or an error.
    public static func usesUnwindTables(_ mode: UnwinderMode, report: (String) -> Void) throws(AgentError) -> Bool {
        guard mode != .fp else { return false }
        if libbpf_probe_bpf_helper(BPF_PROG_TYPE_PERF_EVENT, BPF_FUNC_loop, nil) == 1 { return true }
        let reason = "this kernel has no bpf_loop (Linux 5.17+): the table unwinder cannot run"
        if mode == .dwarf { throw .invalidOption("--unwinder dwarf: \(reason)") }
        report("profiler-agent: \(reason); user stacks are walked with frame pointers")
        return false
    }
}
