import CBPF
import Foundation

/// The BPF maps every tracer shares, owned by no single tracer: the in-kernel
/// process filter and the per-thread spans (`bpf/span.bpf.h`). They are created
/// here, before any object is loaded, and every object adopts them by name, so
/// all programs see one map each. Declared identically in each object's C.
public final class SharedBPFMaps: @unchecked Sendable {
    /// Map name → fd, for the maps objects adopt by name.
    private var fds: [String: Int32] = [:]
    /// Whether the programs skip processes outside `target_pids`.
    public let filterByPID: Bool

    /// Creates the maps and fills the process filter. Throws with nothing left open.
    public init(pids: [Int32]) throws(AgentError) {
        filterByPID = !pids.isEmpty
        let sizes = MapSizeOverrides.requested
        let definitions: [(name: String, type: bpf_map_type, value: Int, entries: UInt32)] = [
            ("target_pids", BPF_MAP_TYPE_HASH, MemoryLayout<UInt8>.size, 1024),
            // LRU: threads that vanished cannot fill them up.
            ("syscall_spans", BPF_MAP_TYPE_LRU_HASH, MemoryLayout<thread_span>.size, 65536),
            ("event_spans", BPF_MAP_TYPE_LRU_HASH, MemoryLayout<thread_span>.size, 16384),
        ]
        for map in definitions {
            let fd = bpf_map_create(map.type, map.name, UInt32(MemoryLayout<UInt32>.size), UInt32(map.value),
                                    sizes[map.name] ?? map.entries, nil)
            guard fd >= 0 else {
                let reason = errnoText(errno)
                close()
                throw .bpfLoadFailed(object: "shared maps", reason: "cannot create map \(map.name): \(reason)", verifierLog: [])
            }
            fds[map.name] = fd
        }
        var one: UInt8 = 1
        for var pid in pids where bpf_map_update_elem(fds["target_pids"] ?? -1, &pid, &one, UInt64(BPF_ANY)) != 0 {
            let reason = errnoText(errno)
            close()
            throw .mapAccessFailed(map: "target_pids", reason: reason)
        }
    }

    deinit { close() }

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

    /// Closes the maps (programs that adopted them keep their own references).
    public func close() {
        for fd in fds.values { Glibc.close(fd) }
        fds.removeAll()
    }
}
