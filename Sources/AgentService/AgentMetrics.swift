import AgentCore
import Foundation
import Symbolizer

/// The agent's own metrics (prefix `profiler_agent_`), gathered at scrape time.
struct AgentMetrics {
    let profiler: ContinuousProfiler
    let pusher: PyroscopePusher?
    let topSyscalls: Int

    func families() -> [MetricFamily] {
        let status = profiler.status
        let s = status.statistics
        var families: [MetricFamily] = [
            .counter("profiler_agent_samples", "CPU samples counted in the kernel.", Double(s.samples)),
            .counter("profiler_agent_samples_dropped", "CPU samples dropped, by reason.", [
                ([("reason", "map_full")], Double(s.droppedMapFull)),
                ([("reason", "filtered")], Double(status.samplesFiltered + s.filteredInKernel)),
            ]),
            .counter("profiler_agent_stacks_dropped", "Stacks lost: not stored in the kernel (user, kernel) or gone when read (missing).", [
                ([("kind", "user")], Double(s.userStacksLost)),
                ([("kind", "kernel")], Double(s.kernelStacksLost)),
                ([("kind", "missing")], Double(s.stacksMissing)),
            ]),
            .counter("profiler_agent_windows_closed", "Profile windows closed.", Double(status.windowsClosed)),
            .counter("profiler_agent_windows_evicted", "Profile windows evicted from memory by the retention budget.", Double(profiler.store.evictedCount)),
            .gauge("profiler_agent_retained_windows", "Profile windows held in memory.", Double(profiler.store.windows.count)),
            .gauge("profiler_agent_retained_bytes", "Bytes of profile windows held in memory.", Double(profiler.store.byteCount), unit: "bytes"),
            .counter("profiler_agent_drain_errors", "Failed reads of the BPF maps.", Double(status.drainErrors)),
            .counter("profiler_agent_symbol_cache_hits", "Binary lookups answered from the symbol cache.", Double(status.symbolCache.hits)),
            .counter("profiler_agent_python_name_cache", "Python frames named from the code-object cache (hit) or by reading the process (miss).",
                     [([("result", "hit")], Double(status.pythonNames.hits)), ([("result", "miss")], Double(status.pythonNames.misses))]),
            .counter("profiler_agent_python_code_read_failures", "Python code objects that could not be read (process exited, object freed).",
                     Double(status.pythonNames.readFailures)),
            .gauge("profiler_agent_python_name_cache_entries", "Code objects whose names are cached (at most 65,536).",
                   Double(status.pythonNames.entries)),
            .gauge("profiler_agent_perf_map_files", "Processes whose JIT perf map (/tmp/perf-PID.map) is read.", Double(status.perfMaps.files)),
            .gauge("profiler_agent_perf_map_entries", "JIT perf map entries held (at most 524,288).", Double(status.perfMaps.entries)),
            .gauge("profiler_agent_perf_map_bytes", "Memory of the JIT perf map entries held, about (at most 64 MiB).",
                   Double(status.perfMaps.bytes), unit: "bytes"),
            .counter("profiler_agent_perf_map_frames_named", "Frames of JIT code named from a perf map.", Double(status.perfMaps.named)),
            .counter("profiler_agent_perf_map_malformed_lines", "Perf map lines that did not parse (skipped).", Double(status.perfMaps.malformedLines)),
            .counter("profiler_agent_perf_map_refused", "Perf maps not read (not a regular file, not the process's user's) or cut (too large).",
                     Double(status.perfMaps.refused)),
            .counter("profiler_agent_unnamed_frames", "Frames symbolised without a name (each frame of each distinct stack of a window), by why.",
                     status.unnamedFrames.sorted { $0.key.rawValue < $1.key.rawValue }.map { ([("reason", $0.key.rawValue)], Double($0.value)) }),
            .counter("profiler_agent_symbol_cache_misses", "Binaries parsed.", Double(status.symbolCache.misses)),
            .counter("profiler_agent_symbol_cache_failures", "Binaries that could not be read or parsed.", Double(status.symbolCache.failures)),
            .gauge("profiler_agent_symbol_cache_binaries", "Binaries whose symbol tables are held.", Double(status.symbolCache.binaries)),
            .counter("profiler_agent_symbol_cache_evicted", "Binaries dropped after going unused.", Double(status.symbolCache.evicted)),
            .gauge("profiler_agent_symbol_table_bytes", "Memory of the held symbol tables (names are read from the binaries on demand).",
                   Double(status.symbolCache.symbolBytes), unit: "bytes"),
            .gauge("profiler_agent_tracked_processes", "Processes with cached metadata.", Double(status.trackedProcesses)),
            .gauge("profiler_agent_attached_cpus", "CPUs with an attached sampling perf event.", Double(status.attachedCPUs)),
            .gauge("profiler_agent_profile_requests_waiting", "Profile requests waiting for their samples.", Double(profiler.hub.waiting)),
        ]
        let program = { (p: BPFProgramStatistics) in [("tracer", p.tracer), ("program", p.name)] }
        families.append(.counter("profiler_agent_bpf_program_runs", "Runs of each BPF program of the sampler (tracer=\"cpu\") and every tracer (kernel BPF stats).",
                                 status.programs.map { (program($0), Double($0.runCount)) }))
        families.append(MetricFamily(
            name: "profiler_agent_bpf_program_run_seconds", help: "Time spent in each BPF program (kernel BPF stats); per-tracer rates at /debug/overhead.",
            kind: .counter, unit: "seconds",
            samples: status.programs.map { MetricSample(suffix: "_total", labels: program($0), value: Double($0.runTimeNanoseconds) / 1e9) }))
        families += unwindFamilies(status.unwinding)
        let push = pusher?.statistics ?? .init()
        families.append(.counter("profiler_agent_pushes", "Windows pushed to Pyroscope, by result (failed counts attempts).", [
            ([("result", "ok")], Double(push.ok)),
            ([("result", "failed")], Double(push.failed)),
            ([("result", "dropped")], Double(push.dropped)),
        ]))
        families.append(.gauge("profiler_agent_push_queue_windows", "Windows waiting to be pushed.", Double(push.queued)))
        families.append(.gauge("profiler_agent_resident_memory_bytes", "Resident set size of the agent.", Double(residentMemoryBytes()), unit: "bytes"))
        families.append(MetricFamily(
            name: "profiler_agent_tracer_attached", help: "1 when a requested tracer is attached (mode: tp_btf or raw_tp; dns and tls: uprobe_multi or uprobe), 0 when it could not be.",
            kind: .gauge, samples: status.tracers.sorted { $0.key < $1.key }.map { kind, outcome in
                switch outcome {
                case .success(let mode): MetricSample(suffix: "", labels: [("tracer", kind.rawValue), ("mode", mode.rawValue)], value: 1)
                case .failure: MetricSample(suffix: "", labels: [("tracer", kind.rawValue), ("mode", "none")], value: 0)
                }
            }))
        if status.tracers[.offcpu] != nil {
            let off = status.offCPUStatistics
            families.append(.counter("profiler_agent_offcpu_events", "Off-CPU blocks counted (at least the minimum block time).", Double(off.samples)))
            families.append(.counter("profiler_agent_offcpu_dropped", "Off-CPU blocks dropped: map full.", Double(off.droppedMapFull)))
            families.append(.counter("profiler_agent_offcpu_stacks_dropped", "Off-CPU stacks lost: not stored (user, kernel) or gone when read (missing).", [
                ([("kind", "user")], Double(off.userStacksLost)),
                ([("kind", "kernel")], Double(off.kernelStacksLost)),
                ([("kind", "missing")], Double(off.stacksMissing)),
            ]))
        }
        // Every capped label: how many distinct values went into "other".
        var folded: [([(String, String)], Double)] = []
        if let snapshot = profiler.syscallLatency() {
            let latency = LatencyMetrics(topSyscalls: topSyscalls, gate: profiler.exemplars)
            families.append(latency.syscallFamily(snapshot))
            families.append(.counter("profiler_agent_syscall_spans_full", "Syscalls not timed: the per-thread span map was full.",
                                     Double(profiler.syscallSpansFull() ?? 0)))
            folded.append(([("metric", "profiler_syscall_latency_seconds"), ("label", "syscall")], Double(max(snapshot.series.count - topSyscalls, 0))))
            if let (byContainer, mapFull) = profiler.containerSyscallLatency() {
                families.append(latency.containerSyscallFamily(byContainer, named: latency.namedSyscalls(snapshot)))
                folded.append(([("metric", "profiler_container_syscall_latency_seconds"), ("label", "container_id")], Double(byContainer.foldedContainers)))
                families.append(.counter("profiler_agent_syscall_process_map_full", "Syscalls counted only node-wide: the per-process map was full.", Double(mapFull)))
            }
        }
        if let series = profiler.blockIOLatency() {
            let (kept, foldedDevices) = LatencyMetrics.foldBlockDevices(series)
            families += LatencyMetrics(topSyscalls: topSyscalls, gate: profiler.exemplars).blockIOFamilies(kept)
            folded.append(([("metric", "profiler_block_io_latency_seconds"), ("label", "device")], Double(foldedDevices)))
        }
        if !folded.isEmpty {
            families.append(.gauge("profiler_agent_folded_label_values", "Distinct label values folded into \"other\" by a cardinality cap.", folded))
        }
        let libraryCalls = profiler.libraryCallLatency()
        for snapshot in libraryCalls {
            families += LatencyMetrics(topSyscalls: topSyscalls, gate: profiler.exemplars).libraryCallFamilies(snapshot)
        }
        if !libraryCalls.isEmpty {
            let tracer = { (s: LibraryCallSnapshot) in [("tracer", s.kind.rawValue)] }
            families.append(.gauge("profiler_agent_uprobe_libraries", "Library files (by inode) the DNS/TLS uprobes are attached to.",
                                   libraryCalls.map { (tracer($0), Double($0.libraries)) }))
            families.append(.counter("profiler_agent_event_records_lost", "DNS/TLS records the kernel could not send (ring buffer full).",
                                     libraryCalls.map { (tracer($0), Double($0.recordsLost)) }))
            families.append(.counter("profiler_agent_call_sites_skipped", "DNS/TLS call sites not sent (over the per-CPU rate); their samples keep their own stacks.",
                                     libraryCalls.map { (tracer($0), Double($0.callSitesSkipped)) }))
        }
        // Last: the gate counts the exemplars this very scrape let out.
        let stacks = profiler.eventStackStatistics(), gate = profiler.exemplars.statistics
        families.append(.counter("profiler_agent_event_stacks", "Stacks tracers took for events that become exemplars, by outcome.", [
            ([("outcome", "sent")], Double(stacks.sent)),
            ([("outcome", "ring_full")], Double(stacks.ringFull)),
            ([("outcome", "over_rate")], Double(stacks.overRate)),
            ([("outcome", "empty")], Double(stacks.empty)),
            ([("outcome", "malformed")], Double(stacks.malformed)),
        ]))
        families.append(.counter("profiler_agent_exemplars", "Exemplars at scrapes: current (BPF's newest, its span held), withheld (span not held yet or expired), stood_in (an older one exported instead).", [
            ([("result", "current")], Double(gate.current)),
            ([("result", "withheld")], Double(gate.withheld)),
            ([("result", "stood_in")], Double(gate.stoodIn)),
        ]))
        return families
    }
}

/// RSS from /proc/self/statm (pages × page size).
func residentMemoryBytes() -> Int {
    guard let bytes = readWholeFile("/proc/self/statm") else { return 0 }
    let fields = String(decoding: bytes, as: UTF8.self).split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
    return pages * sysconf(Int32(_SC_PAGESIZE))
}
