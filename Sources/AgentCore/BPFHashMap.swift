import CBPF
import Foundation

/// Reads and empties a BPF hash map from user space.
struct BPFHashMap<Key: BitwiseCopyable, Value: BitwiseCopyable> {
    let fd: Int32
    let name: String
    let capacity: Int

    /// Removes and returns every entry: with one batched lookup-and-delete
    /// (atomic per bucket), or entry by entry on kernels without batch ops.
    func drain() throws(AgentError) -> [(Key, Value)] {
        if let entries = try drainBatched() { return entries }
        return try drainOneByOne()
    }

    private func drainBatched() throws(AgentError) -> [(Key, Value)]? {
        let keySize = MemoryLayout<Key>.stride, valueSize = MemoryLayout<Value>.stride
        let batch = max(capacity, 1)
        let keys = UnsafeMutableRawPointer.allocate(byteCount: keySize * batch, alignment: 8)
        let values = UnsafeMutableRawPointer.allocate(byteCount: valueSize * batch, alignment: 8)
        defer { keys.deallocate(); values.deallocate() }
        var options = bpf_map_batch_opts()
        options.sz = MemoryLayout<bpf_map_batch_opts>.size
        var entries: [(Key, Value)] = []
        var token: UInt32 = 0, nextToken: UInt32 = 0
        var first = true
        while true {
            var count = UInt32(batch)
            let err = first
                ? bpf_map_lookup_and_delete_batch(fd, nil, &nextToken, keys, values, &count, &options)
                : bpf_map_lookup_and_delete_batch(fd, &token, &nextToken, keys, values, &count, &options)
            let code = err < 0 ? errno : 0
            if err < 0 && code != ENOENT {
                if first && (code == EINVAL || code == ENOTSUP || code == EOPNOTSUPP) { return nil }
                throw .mapAccessFailed(map: name, reason: errnoText(code))
            }
            for i in 0..<Int(count) {
                entries.append((keys.load(fromByteOffset: i * keySize, as: Key.self),
                                values.load(fromByteOffset: i * valueSize, as: Value.self)))
            }
            if code == ENOENT { return entries }
            token = nextToken
            first = false
        }
    }

    private func drainOneByOne() throws(AgentError) -> [(Key, Value)] {
        let keySize = MemoryLayout<Key>.stride
        let current = UnsafeMutableRawPointer.allocate(byteCount: keySize, alignment: 8)
        let next = UnsafeMutableRawPointer.allocate(byteCount: keySize, alignment: 8)
        let value = UnsafeMutableRawPointer.allocate(byteCount: MemoryLayout<Value>.stride, alignment: 8)
        defer { current.deallocate(); next.deallocate(); value.deallocate() }
        var keys: [Key] = []
        var err = bpf_map_get_next_key(fd, nil, next)
        while err == 0 && keys.count <= capacity {
            keys.append(next.load(as: Key.self))
            current.copyMemory(from: next, byteCount: keySize)
            err = bpf_map_get_next_key(fd, current, next)
        }
        var entries: [(Key, Value)] = []
        for var key in keys {
            guard bpf_map_lookup_elem(fd, &key, value) == 0 else { continue }
            entries.append((key, value.load(as: Value.self)))
            bpf_map_delete_elem(fd, &key)
        }
        return entries
    }
}
