import AgentCore

extension AgentMetrics {
    /// Labels of `profiler_agent_unwinder` with tables: the mode and where user registers come from.
    static func kernelPathLabels(_ mode: String) -> [(String, String)] {
        let features = UnwindKernelFeatures.probed
        return [("mode", mode), ("registers", features.contains(.taskRegisters) ? "task_pt_regs" : "kernel_stack")]
    }

    /// The user-stack unwinder: which walker runs, its outcomes by reason (per
    /// source: cpu, offcpu, call_site), and what its tables hold and cost.
    func unwindFamilies(_ u: UnwindStatus) -> [MetricFamily] {
        var families: [MetricFamily] = [
            .gauge("profiler_agent_unwinder", "1 for the user-stack walker in use (mode: dwarf = unwind tables, fp = frame pointers; "
                   + "with tables, registers: where a task's user registers are read, task_pt_regs, or kernel_stack before 5.15).",
                   [(u.mode == "dwarf" ? Self.kernelPathLabels(u.mode) : [("mode", u.mode)], 1)]),
        ]
        guard u.mode == "dwarf" else { return families }
        let stackOutcomes = ["reached_stop", "null_end", "depth_limit", "read_fault", "bad_rule", "no_process", "no_user_regs", "store_failed"]
        let frameKinds = ["frames_table", "frames_fp", "fp_no_mapping", "fp_mapping", "fp_no_row", "fp_invalid_row", "signal_frames", "rule_cache_hits",
                          "frames_trampoline"]
        let sources = u.counters.values.keys.sorted()
        families.append(.counter("profiler_agent_unwind_stacks", "User stacks by how their walk ended (reached_stop: complete to _start/clone3).",
                                 sources.flatMap { source in stackOutcomes.map { ([("source", source), ("outcome", $0)], Double(u.counters.values[source]?[$0] ?? 0)) } }))
        families.append(.counter("profiler_agent_unwind_frames", "User frames by how they were unwound (table row, frame pointers and why; "
                                 + "rule_cache_hits: table frames whose rule came from the per-CPU cache; frames_trampoline: CPython -X perf trampolines).",
                                 sources.flatMap { source in frameKinds.map { ([("source", source), ("kind", $0)], Double(u.counters.values[source]?[$0] ?? 0)) } }))
        families.append(MetricFamily(name: "profiler_agent_unwind_walk_seconds", help: "Time BPF spent walking user stacks with tables.",
                                     kind: .counter, unit: "seconds",
                                     samples: sources.map { MetricSample(suffix: "_total", labels: [("source", $0)], value: Double(u.counters.values[$0]?["walk_ns"] ?? 0) / 1e9) }))
        families += [
            .gauge("profiler_agent_unwind_table_files", "Files whose unwind tables are loaded.", Double(u.files)),
            .gauge("profiler_agent_unwind_table_rows", "Rows of the loaded unwind tables.", Double(u.rows)),
            .gauge("profiler_agent_unwind_table_bytes", "BPF map memory the loaded unwind tables use.", Double(u.tableBytes), unit: "bytes"),
            .gauge("profiler_agent_unwind_processes", "Processes described to the table unwinder.", Double(u.processes)),
            .counter("profiler_agent_unwind_files_without_table", "Files walked with frame pointers, by why (evicted: a table dropped for a more recently sampled file's).", [
                ([("reason", "no_table")], Double(u.filesWithoutTable)), ([("reason", "over_budget")], Double(u.filesOverBudget)),
                ([("reason", "evicted")], Double(u.filesEvicted)),
            ]),
        ]
        families.append(.counter("profiler_agent_unwind_requests", "Requests from BPF to describe a process (exec, a pid not described, a pc in no described mapping).",
                                 u.requests.keys.sorted().map { ([("reason", $0)], Double(u.requests[$0] ?? 0)) }))
        families.append(.counter("profiler_agent_unwind_requests_answered", "Requests answered: the process described with its tables loaded.",
                                 Double(u.requestsAnswered)))
        families.append(MetricFamily(name: "profiler_agent_unwind_request_latency_seconds",
                                     help: "Summed time from a BPF request to its process described (divide by the answered requests for the mean).",
                                     kind: .counter, unit: "seconds",
                                     samples: [MetricSample(suffix: "_total", labels: [], value: u.requestLatencySecondsSum)]))
        families.append(.gauge("profiler_agent_unwind_request_latency_max_seconds", "The longest a describe request waited.",
                               u.requestLatencySecondsMax, unit: "seconds"))
        families.append(.gauge("profiler_agent_interpreter_processes", "Interpreter processes by runtime, version and state (profiled: "
                               + "frames walked in BPF; pending: not initialised yet; else why they are profiled natively).",
                               u.interpreterProcesses.sorted { ($0.version, $0.state) < ($1.version, $1.state) }
                                   .map { ([("runtime", $0.runtime), ("version", $0.version), ("state", $0.state)], Double($0.processes)) }))
        let pythonOutcomes = ["no_thread_state", "thread_cache_hits", "idle", "read_fault", "truncated"]
        families.append(.counter("profiler_agent_python_stacks", "Stacks of profiled Python processes walked in BPF.", Double(u.python["stacks"] ?? 0)))
        families.append(.counter("profiler_agent_python_frames", "Python frames read in BPF.", Double(u.python["frames"] ?? 0)))
        families.append(.counter("profiler_agent_python_walk_events", "Python walks by what happened (no_thread_state: not a Python thread; "
                                 + "idle: no current frame; read_fault / truncated: the walk ended early).",
                                 pythonOutcomes.map { ([("event", $0)], Double(u.python[$0] ?? 0)) }))
        families.append(MetricFamily(name: "profiler_agent_python_walk_seconds", help: "Time BPF spent walking Python frames.",
                                     kind: .counter, unit: "seconds",
                                     samples: [MetricSample(suffix: "_total", labels: [], value: Double(u.python["walk_ns"] ?? 0) / 1e9)]))
        families.append(MetricFamily(name: "profiler_agent_unwind_table_build_seconds", help: "Time spent building unwind tables.",
                                     kind: .counter, unit: "seconds", samples: [MetricSample(suffix: "_total", labels: [], value: u.buildSeconds)]))
        return families
    }
}
