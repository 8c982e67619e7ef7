import CBPF

/// The table unwinder's counters (`unwind_stats`, `enum unwind_stat` per
/// `enum unwind_source`), summed over CPUs, with the names /metrics uses.
public struct UnwindCounters: Sendable, Equatable {
    /// (source, counter name) → value; sources "cpu", "offcpu", "call_site", "event".
    public var values: [String: [String: UInt64]] = [:]

    public init() {}

    static let sources = ["cpu", "offcpu", "call_site", "event"]
    /// Names of `enum unwind_stat`, in order.
    static let names = [
        "stacks", "no_process", "no_user_regs", "reached_stop", "null_end", "depth_limit", "read_fault", "bad_rule",
        "frames_table", "frames_fp", "fp_no_mapping", "fp_mapping", "fp_no_row", "fp_invalid_row", "signal_frames",
        "store_failed", "requests", "requests_lost", "rule_cache_hits", "walk_ns", "frames_trampoline",
    ]

    /// Reads the shared counter map.
    static func read(_ fd: Int32) -> UnwindCounters {
        let perSource = Int(UNWIND_STAT_COUNT.rawValue)
        let totals = StackCountMaps.perCPUCounters(fd, count: perSource * Int(UNWIND_SOURCE_COUNT.rawValue))
        var counters = UnwindCounters()
        for (s, source) in sources.enumerated() {
            var row: [String: UInt64] = [:]
            for (i, name) in names.enumerated() where i < perSource { row[name] = totals[s * perSource + i] }
            counters.values[source] = row
        }
        return counters
    }
}

/// What the table unwinder holds and costs, for /metrics.
public struct UnwindStatus: Sendable, Equatable {
    /// "fp" or "dwarf": the walker the programs use.
    public var mode = "fp"
    public var counters = UnwindCounters()
    public var files = 0
    public var rows = 0
    public var tableBytes = 0
    public var processes = 0
    public var filesWithoutTable = 0
    public var filesOverBudget = 0
    public var filesEvicted = 0
    public var buildSeconds = 0.0
    /// Describe requests from BPF by reason (exec, unknown_process, no_mapping), and how fast they were answered.
    public var requests: [String: UInt64] = [:]
    public var requestsAnswered: UInt64 = 0
    public var requestLatencySecondsSum = 0.0
    public var requestLatencySecondsMax = 0.0
    /// The CPython frame walk's counters (`bpf/python.h` enum python_stat, by name).
    public var python: [String: UInt64] = [:]
    /// Interpreter processes by runtime, version and state (profiled, pending, or why not).
    public var interpreterProcesses: [InterpreterProcessCount] = []
    public init() {}
}
