import CBPF
import Foundation

/// A (pid, tid, stacks, span) → value hash map and its stack map, as written by
/// profile.bpf.c (value: samples) and offcpu.bpf.c (value: nanoseconds blocked).
struct StackCountMaps {
    let counts: Int32
    let stacks: Int32
    let capacity: Int
    let name: String

    /// Removes and returns the counted stacks; stacks that vanished are counted in `missing`.
    func drain(missing: inout UInt64) throws(AgentError) -> [RawStack] {
        let entries = try BPFHashMap<profile_key, UInt64>(fd: counts, name: name, capacity: capacity).drain()
        var cache: [Int32: [UInt64]] = [:]
        var frames = [UInt64](repeating: 0, count: Int(PROFILE_MAX_STACK_DEPTH))
        func stack(_ id: Int32) -> [UInt64] {
            guard id >= 0 else { return [] }
            if let known = cache[id] { return known }
            var key = UInt32(id)
            var addresses: [UInt64] = []
            if bpf_map_lookup_elem(stacks, &key, &frames) == 0 {
                addresses = Array(frames.prefix { $0 != 0 })
            } else {
                missing += 1
            }
            cache[id] = addresses
            return addresses
        }
        var result: [RawStack] = []
        result.reserveCapacity(entries.count)
        for (key, value) in entries {
            result.append(RawStack(
                pid: Int32(bitPattern: key.pid), tid: Int32(bitPattern: key.tid), comm: commString(key.comm),
                spanID: key.span_id, user: stack(key.user_stack_id), kernel: stack(key.kernel_stack_id), count: value))
        }
        for id in cache.keys {
            var key = UInt32(id)
            bpf_map_delete_elem(stacks, &key)
        }
        return result
    }

    /// Sums a per-CPU u64 counter array (`enum profile_stat` layout).
    static func statistics(_ fd: Int32, missing: UInt64) -> SamplingStatistics {
        var stats = SamplingStatistics()
        let cpus = Int(libbpf_num_possible_cpus())
        guard cpus > 0 else { return stats }
        var values = [UInt64](repeating: 0, count: cpus)
        func total(_ index: profile_stat) -> UInt64 {
            var key = UInt32(index.rawValue)
            guard bpf_map_lookup_elem(fd, &key, &values) == 0 else { return 0 }
            return values.reduce(0, &+)
        }
        stats.samples = total(PROFILE_STAT_SAMPLES)
        stats.droppedMapFull = total(PROFILE_STAT_MAP_FULL)
        stats.userStacksLost = total(PROFILE_STAT_USER_STACK_LOST)
        stats.kernelStacksLost = total(PROFILE_STAT_KERNEL_STACK_LOST)
        stats.stacksMissing = missing
        return stats
    }
}
