import CBPF
import Foundation

/// The BPF maps every tracer shares, owned by no single tracer: the in-kernel
/// process filter, the per-thread spans (`bpf/span.bpf.h`) and the exemplars'
/// event stacks (`bpf/event_stack.bpf.h`). They are created
/// here, before any object is loaded, and every object adopts them by name, so
/// all programs see one map each. Declared identically in each object's C.
public final class SharedBPFMaps: @unchecked Sendable {
    /// Map name → fd, for the maps objects adopt by name.
    private var fds: [String: Int32] = [:]
    private var capacities: [String: UInt32] = [:]
    /// Whether the programs skip processes outside `target_pids`.
    public let filterByPID: Bool
    /// Whether the table unwinder's maps exist (`bpf/unwind.bpf.h`: tables, processes, counters).
    public let hasUnwindTables: Bool

    private struct Definition {
        var name: String
        var type: bpf_map_type
        var value: Int
        var entries: UInt32
        var flags: UInt32 = 0
        var key = MemoryLayout<UInt32>.size
    }

    /// Creates the maps and fills the process filter; with `unwindTables`, also
    /// the table unwinder's (sized by `UNWIND_DEFAULT_*`, its rows and page index
    /// by `tableBytes`). Throws with nothing left open.
    public init(pids: [Int32], unwindTables: Bool = false, tableBytes: Int = SamplingConfiguration.defaultUnwindTableBytes) throws(AgentError) {
        filterByPID = !pids.isEmpty
        hasUnwindTables = unwindTables
        let sizes = MapSizeOverrides.requested
        var definitions = [
            Definition(name: "target_pids", type: BPF_MAP_TYPE_HASH, value: MemoryLayout<UInt8>.size, entries: 1024),
            // LRU: threads that vanished cannot fill them up.
            Definition(name: "syscall_spans", type: BPF_MAP_TYPE_LRU_HASH, value: MemoryLayout<thread_span>.size, entries: 65536),
            Definition(name: "event_spans", type: BPF_MAP_TYPE_LRU_HASH, value: MemoryLayout<thread_span>.size, entries: 16384),
            // The stacks of events that become exemplars (bpf/event_stack.bpf.h), their counters and per-CPU rate.
            Definition(name: "event_stacks", type: BPF_MAP_TYPE_RINGBUF, value: 0, entries: EVENT_STACK_DEFAULT_RING, key: 0),
            Definition(name: "event_stack_stats", type: BPF_MAP_TYPE_PERCPU_ARRAY, value: MemoryLayout<UInt64>.size,
                       entries: UInt32(EVENT_STACK_STAT_COUNT.rawValue)),
            Definition(name: "event_stack_budget", type: BPF_MAP_TYPE_PERCPU_ARRAY, value: Self.rateBudgetBytes, entries: UInt32(EVENT_STACK_KINDS)),
        ]
        if unwindTables {
            definitions += [
                Definition(name: "unwind_rows", type: BPF_MAP_TYPE_ARRAY, value: MemoryLayout<unwind_row>.size, entries: Self.rows(tableBytes)),
                Definition(name: "unwind_rules", type: BPF_MAP_TYPE_ARRAY, value: MemoryLayout<unwind_rule>.size, entries: UInt32(UNWIND_DEFAULT_RULES)),
                Definition(name: "unwind_files", type: BPF_MAP_TYPE_ARRAY, value: MemoryLayout<unwind_file>.size, entries: UInt32(UNWIND_DEFAULT_FILES)),
                Definition(name: "unwind_pages", type: BPF_MAP_TYPE_ARRAY, value: MemoryLayout<UInt32>.size, entries: Self.rows(tableBytes) / 8),
                // 8 KiB values: pay only for the processes described, where the kernel lets a
                // perf_event program use such a map (6.1+); before, all 8 MiB up front.
                Definition(name: "unwind_processes", type: BPF_MAP_TYPE_HASH, value: MemoryLayout<unwind_process>.size,
                           entries: UInt32(UNWIND_DEFAULT_PROCESSES),
                           flags: UnwindKernelFeatures.dynamicProcessMap ? UInt32(BPF_F_NO_PREALLOC) : 0),
                Definition(name: "unwind_stats", type: BPF_MAP_TYPE_PERCPU_ARRAY, value: MemoryLayout<UInt64>.size,
                           entries: UInt32(UNWIND_SOURCE_COUNT.rawValue * UNWIND_STAT_COUNT.rawValue)),
                // Describe requests (exec, new pid, dlopen) and their per-process rate limit.
                Definition(name: "unwind_requests", type: BPF_MAP_TYPE_RINGBUF, value: 0, entries: UNWIND_DEFAULT_REQUEST_RING, key: 0),
                Definition(name: "unwind_requested", type: BPF_MAP_TYPE_LRU_HASH, value: MemoryLayout<UInt64>.size,
                           entries: UInt32(UNWIND_DEFAULT_REQUESTED)),
                // CPython frames (bpf/python.bpf.h): checked processes, each thread's thread state, counters.
                Definition(name: "python_processes", type: BPF_MAP_TYPE_HASH, value: MemoryLayout<python_process>.size,
                           entries: UInt32(PYTHON_DEFAULT_PROCESSES)),
                Definition(name: "python_threads", type: BPF_MAP_TYPE_LRU_HASH, value: MemoryLayout<UInt64>.size,
                           entries: UInt32(PYTHON_DEFAULT_THREADS)),
                Definition(name: "python_stats", type: BPF_MAP_TYPE_PERCPU_ARRAY, value: MemoryLayout<UInt64>.size,
                           entries: UInt32(PYTHON_STAT_COUNT.rawValue)),
            ]
        }
        for map in definitions {
            var options = bpf_map_create_opts()
            options.sz = MemoryLayout<bpf_map_create_opts>.size
            options.map_flags = map.flags
            let entries = sizes[map.name] ?? map.entries
            let fd = bpf_map_create(map.type, map.name, UInt32(map.key), UInt32(map.value), entries, &options)
            guard fd >= 0 else {
                let reason = errnoText(errno)
                close()
                throw .bpfLoadFailed(object: "shared maps", reason: "cannot create map \(map.name): \(reason)", verifierLog: [])
            }
            fds[map.name] = fd
            capacities[map.name] = entries
        }
        var one: UInt8 = 1
        for var pid in pids where bpf_map_update_elem(fds["target_pids"] ?? -1, &pid, &one, UInt64(BPF_ANY)) != 0 {
            let reason = errnoText(errno)
            close()
            throw .mapAccessFailed(map: "target_pids", reason: reason)
        }
    }

    deinit { close() }

    /// `struct rate_budget` (bpf/maps.bpf.h, not visible to Swift): a u64 and a u32, padded to 16 bytes.
    static let rateBudgetBytes = 16

    /// Rows a table budget holds: 8 B per row plus 8 B per page-index slot, one slot per 8 rows
    /// (libc and CPython have 7-12 rows per 4 KiB of text).
    static func rows(_ tableBytes: Int) -> UInt32 {
        UInt32(clamping: max(1 << 14, tableBytes / 9))
    }

    /// Makes an opened (not yet loaded) object use these maps wherever it
    /// declares a map of the same name.
    func adopt(into object: OpaquePointer?, name: String) throws(AgentError) {
        for (mapName, fd) in fds {
            guard let map = bpf_object__find_map_by_name(object, mapName) else { continue }
            if bpf_map__reuse_fd(map, fd) != 0 {
                throw .bpfLoadFailed(object: name, reason: "cannot share map \(mapName): \(errnoText(errno))", verifierLog: [])
            }
        }
    }

    /// The fd of a shared map (-1 when there is none of that name).
    func fd(of name: String) -> Int32 { fds[name] ?? -1 }

    /// Entries of a shared map (0 when there is none of that name).
    func capacity(of name: String) -> UInt32 { capacities[name] ?? 0 }

    /// Closes the maps (programs that adopted them keep their own references).
    public func close() {
        for fd in fds.values { Glibc.close(fd) }
        fds.removeAll()
    }
}
