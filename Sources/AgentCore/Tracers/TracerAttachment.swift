import CBPF
import Foundation

/// How a tracer's programs reached the kernel: BTF-typed tracepoints (preferred)
/// or raw tracepoints (older kernels, or where tp_btf is refused); for the uprobe
/// tracers (DNS, TLS), uprobe_multi links (6.6+) or one perf-event uprobe per function.
public enum AttachVariant: String, Sendable {
    case tpBTF = "tp_btf"
    case rawTP = "raw_tp"
    case uprobeMulti = "uprobe_multi"
    case uprobe = "uprobe"
}

/// Loads a tracer with tp_btf programs, else with their raw_tp twins; `stop`
/// undoes a failed attempt. Returns the variant that attached, or the last error.
func attachPreferringBTF(load: (AttachVariant) throws(AgentError) -> Void, stop: () -> Void) throws(AgentError) -> AttachVariant {
    var lastError = AgentError.attachFailed(program: "tracer", reason: "not attempted")
    for candidate in [AttachVariant.tpBTF, .rawTP] {
        do {
            try load(candidate)
            return candidate
        } catch {
            lastError = error
            stop()
        }
    }
    throw lastError
}

/// Reads a whole BPF array map with one batched lookup (falling back to one
/// lookup per element on kernels without batch operations).
func readArrayMap<Value: BitwiseCopyable>(_ fd: Int32, count: Int, zero: Value) -> [Value] {
    var keys = [UInt32](repeating: 0, count: count)
    var values = [Value](repeating: zero, count: count)
    var n = UInt32(count), next: UInt32 = 0
    var options = bpf_map_batch_opts()
    options.sz = MemoryLayout<bpf_map_batch_opts>.size
    let err = bpf_map_lookup_batch(fd, nil, &next, &keys, &values, &n, &options)
    if (err == 0 || errno == ENOENT) && Int(n) == count { return values }
    for i in 0..<count {
        var key = UInt32(i)
        var value = zero
        if bpf_map_lookup_elem(fd, &key, &value) == 0 { values[i] = value }
    }
    return values
}

/// The keys of a BPF hash map (at most `limit`), in the kernel's iteration order.
func hashMapKeys<Key: BitwiseCopyable>(_ fd: Int32, zero: Key, limit: Int) -> [Key] {
    var keys: [Key] = []
    var next = zero
    var err = bpf_map_get_next_key(fd, nil, &next)
    while err == 0 && keys.count < limit {
        keys.append(next)
        var current = next
        err = bpf_map_get_next_key(fd, &current, &next)
    }
    return keys
}
