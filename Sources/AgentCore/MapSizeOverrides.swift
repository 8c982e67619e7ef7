import CBPF
import Foundation

/// Test and tuning knob: `PROFILER_AGENT_MAP_ENTRIES="counts=8,offcpu_starts=16"`
/// resizes BPF maps by name before a program is loaded (after the agent's own
/// sizing). The fault tests use it to fill maps on purpose; a full map must be
/// counted, never fatal.
enum MapSizeOverrides {
    static let variable = "PROFILER_AGENT_MAP_ENTRIES"

    /// `name=entries` pairs from the environment; malformed pairs are ignored.
    static var requested: [String: UInt32] {
        guard let text = ProcessInfo.processInfo.environment[variable] else { return [:] }
        var sizes: [String: UInt32] = [:]
        for pair in text.split(separator: ",") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let entries = UInt32(parts[1]), entries > 0 else { continue }
            sizes[String(parts[0])] = entries
        }
        return sizes
    }

    /// Applies the requested sizes to the maps of `object` (an opened, not yet loaded skeleton object).
    static func apply(to object: OpaquePointer?) {
        let sizes = requested
        guard !sizes.isEmpty, let object else { return }
        var map = bpf_object__next_map(object, nil)
        while let current = map {
            if let name = bpf_map__name(current), let entries = sizes[String(cString: name)] {
                _ = bpf_map__set_max_entries(current, entries)
            }
            map = bpf_object__next_map(object, current)
        }
    }
}
