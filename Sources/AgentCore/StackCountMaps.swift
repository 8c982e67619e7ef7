import CBPF
import Foundation

/// A (pid, tid, stacks, span) → value hash map and its stack map, as written by
/// profile.bpf.c (value: samples) and offcpu.bpf.c (value: nanoseconds blocked).
///
/// A stack map is a hash table without chaining: a new stack whose bucket is
/// taken is lost, so it must stay sparse. Two ways to keep it so:
/// - `.afterEachDrain` (CPU samples: counted at once): delete the ids just read.
///   A sample on another CPU reusing one of them in that instant loses its stack
///   (counted as missing).
/// - `.wholesale` (off-CPU: a stack is taken when a thread blocks and counted
///   when it wakes, maybe several drains later): ids stay valid across drains,
///   and the map is cleared as a whole, right after a drain, once a quarter of
///   its buckets has been used since the last clear.
struct StackCountMaps {
    enum Clearing { case afterEachDrain, wholesale }

    let counts: Int32
    let stacks: Int32
    /// Table-unwound user stacks (`struct unwind_stack` by hash); -1 without the table unwinder.
    var userStacks: Int32 = -1
    let capacity: Int
    let stackCapacity: Int
    var userStackCapacity = 0
    let clearing: Clearing
    let name: String

    /// Stack ids seen since the stack map was last cleared.
    struct Usage {
        var ids: Set<Int32> = []
        var hashes: Set<UInt64> = []
        var clears: UInt64 = 0
    }

    /// Removes and returns the counted stacks; stacks that vanished are counted in `missing`.
    func drain(missing: inout UInt64, usage: inout Usage) throws(AgentError) -> [RawStack] {
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
        var unwound: [UInt64: [RawFrame]] = [:]
        var walked = unwind_stack()
        func userStack(_ hash: UInt64) -> [RawFrame] {
            if let known = unwound[hash] { return known }
            var key = hash
            var frames: [RawFrame] = []
            if userStacks >= 0, bpf_map_lookup_elem(userStacks, &key, &walked) == 0 {
                frames = Self.frames(of: walked)
            } else {
                missing += 1
            }
            unwound[hash] = frames
            return frames
        }
        var result: [RawStack] = []
        result.reserveCapacity(entries.count)
        for (key, value) in entries {
            let kernel = stack(key.kernel_stack_id).map(RawFrame.kernel)
            let user: [RawFrame]
            if key.user_stack_hash != 0 {
                user = userStack(key.user_stack_hash)
            } else {
                user = stack(key.user_stack_id).enumerated().map { RawFrame.native($1, returnAddress: $0 > 0) }
            }
            result.append(RawStack(pid: Int32(bitPattern: key.pid), tid: Int32(bitPattern: key.tid), comm: commString(key.comm),
                                   spanID: key.span_id, frames: kernel + user, count: value))
        }
        if clearing == .afterEachDrain {
            for id in cache.keys {
                var key = UInt32(id)
                bpf_map_delete_elem(stacks, &key)
            }
            for hash in unwound.keys {
                var key = hash
                bpf_map_delete_elem(userStacks, &key)
            }
            return result
        }
        usage.hashes.formUnion(unwound.keys)
        usage.ids.formUnion(cache.keys.filter { $0 >= 0 })
        if usage.ids.count * 4 >= stackCapacity {
            clearStacks()
            usage.ids.removeAll(keepingCapacity: true)
            usage.clears += 1
        }
        if userStacks >= 0, usage.hashes.count * 4 >= userStackCapacity {
            for var hash in hashMapKeys(userStacks, zero: UInt64(0), limit: userStackCapacity + 1) { bpf_map_delete_elem(userStacks, &hash) }
            usage.hashes.removeAll(keepingCapacity: true)
        }
        return result
    }

    /// Deletes every entry of the stack map.
    private func clearStacks() {
        var key: UInt32 = 0, next: UInt32 = 0
        var keys: [UInt32] = []
        var err = bpf_map_get_next_key(stacks, nil, &next)
        while err == 0 && keys.count <= stackCapacity {
            keys.append(next)
            key = next
            err = bpf_map_get_next_key(stacks, &key, &next)
        }
        for var id in keys { bpf_map_delete_elem(stacks, &id) }
    }

    /// The frames of a table-unwound stack.
    static func frames(of stack: unwind_stack) -> [RawFrame] {
        withUnsafeBytes(of: stack.frames) { raw in
            unwoundFrames(Array(raw.bindMemory(to: UInt64.self).prefix(Int(min(stack.depth, UInt32(UNWIND_MAX_DEPTH))))))
        }
    }

    /// Frames flagged by the table unwinder (leaf first): exact pcs (the leaf, a pc
    /// restored from a signal frame) and return addresses, looked up at − 1 —
    /// except the one into the signal trampoline (the frame before a restored pc):
    /// the kernel made it point at `__restore_rt` itself, not after a call.
    /// Then the Python frames (`bpf/python.h`), two words each, innermost first;
    /// an unpaired last word (a record cut short) is dropped.
    static func unwoundFrames(_ addresses: [UInt64]) -> [RawFrame] {
        let native = addresses.firstIndex { $0 & PYTHON_FRAME_TAG != 0 && $0 & UNWIND_FRAME_EXACT == 0 } ?? addresses.count
        var frames: [RawFrame] = (0..<native).map { index in
            let frame = addresses[index]
            let exact = frame & UNWIND_FRAME_EXACT != 0
            let beforeRestored = index + 1 < native && addresses[index + 1] & UNWIND_FRAME_EXACT != 0
            return RawFrame.native(frame & ~UNWIND_FRAME_EXACT, returnAddress: !exact && !beforeRestored)
        }
        var index = native
        while index + 1 < addresses.count {
            let word = addresses[index], detail = addresses[index + 1]
            index += 2
            guard word & PYTHON_FRAME_TAG != 0 else { break }
            frames.append(.interpreter(InterpreterFrame(runtime: InterpreterFrame.cpython, code: word & PYTHON_FRAME_ADDRESS_MASK,
                                                        offset: UInt32(truncatingIfNeeded: detail >> 32),
                                                        fingerprint: detail & 0xffff_ffff,
                                                        startsActivation: word & PYTHON_FRAME_NEW_GROUP != 0)))
        }
        return frames
    }

    /// Sums a per-CPU u64 counter array (`enum profile_stat` layout).
    static func statistics(_ fd: Int32, missing: UInt64) -> SamplingStatistics {
        let totals = perCPUCounters(fd, count: Int(PROFILE_STAT_COUNT.rawValue))
        func total(_ index: profile_stat) -> UInt64 { totals[Int(index.rawValue)] }
        var stats = SamplingStatistics()
        stats.samples = total(PROFILE_STAT_SAMPLES)
        stats.droppedMapFull = total(PROFILE_STAT_MAP_FULL)
        stats.userStacksLost = total(PROFILE_STAT_USER_STACK_LOST)
        stats.kernelStacksLost = total(PROFILE_STAT_KERNEL_STACK_LOST)
        stats.stacksMissing = missing
        stats.filteredInKernel = total(PROFILE_STAT_FILTERED)
        return stats
    }

    /// Each counter of a per-CPU u64 array, summed over CPUs (0 where unreadable).
    static func perCPUCounters(_ fd: Int32, count: Int) -> [UInt64] {
        let cpus = Int(libbpf_num_possible_cpus())
        guard cpus > 0 else { return Array(repeating: 0, count: count) }
        var values = [UInt64](repeating: 0, count: cpus)
        return (0..<count).map { index in
            var key = UInt32(index)
            guard bpf_map_lookup_elem(fd, &key, &values) == 0 else { return 0 }
            return values.reduce(0, &+)
        }
    }
}
