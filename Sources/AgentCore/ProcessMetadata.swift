import Foundation
import Pprof
import Symbolizer

/// Per-process labels (container, pod) and user-space filters (cgroup prefix,
/// comm regex), cached per PID and forgotten for PIDs not seen for a while.
public final class ProcessMetadata {
    public struct Filters: Sendable {
        /// Keep only processes whose cgroup path starts with this.
        public var cgroupPrefix: String?
        /// Keep only threads whose comm matches this regular expression.
        public var commPattern: String?
        public init(cgroupPrefix: String? = nil, commPattern: String? = nil) {
            self.cgroupPrefix = cgroupPrefix
            self.commPattern = commPattern
        }
    }

    private struct Entry { var metadata: ContainerMetadata; var lastSeen: UInt64 }

    public let filters: Filters
    private let comm: NSRegularExpression?
    private let procRoot: String
    private var cache: [Int32: Entry] = [:]
    private var generation: UInt64 = 0

    /// Throws `.invalidOption` for a bad regular expression.
    public init(filters: Filters, procRoot: String = "/proc") throws(AgentError) {
        self.filters = filters
        self.procRoot = procRoot
        if let pattern = filters.commPattern {
            do { comm = try NSRegularExpression(pattern: pattern) } catch {
                throw .invalidOption("--comm: '\(pattern)' is not a valid regular expression")
            }
        } else {
            comm = nil
        }
    }

    public func metadata(of pid: Int32) -> ContainerMetadata {
        if var entry = cache[pid] {
            entry.lastSeen = generation
            cache[pid] = entry
            return entry.metadata
        }
        var metadata = ContainerMetadata()
        if let bytes = readWholeFile("\(procRoot)/\(pid)/cgroup", limit: 1 << 16) {
            metadata = ContainerMetadata(cgroupFile: String(decoding: bytes, as: UTF8.self))
        }
        cache[pid] = Entry(metadata: metadata, lastSeen: generation)
        return metadata
    }

    /// Adds `container_id` / `pod_uid` labels and drops samples outside the filters.
    public func apply(_ samples: [StackSample]) -> [StackSample] {
        generation += 1
        if generation % 16 == 0 {  // forget exited processes
            cache = cache.filter { generation - $0.value.lastSeen < 16 }
        }
        var kept: [StackSample] = []
        kept.reserveCapacity(samples.count)
        for var sample in samples {
            if let comm {
                let range = NSRange(sample.comm.startIndex..., in: sample.comm)
                if comm.firstMatch(in: sample.comm, range: range) == nil { continue }
            }
            let metadata = metadata(of: sample.pid)
            if let prefix = filters.cgroupPrefix, !metadata.cgroupPath.hasPrefix(prefix) { continue }
            if !metadata.containerID.isEmpty { sample.labels["container_id"] = metadata.containerID }
            if !metadata.podUID.isEmpty { sample.labels["pod_uid"] = metadata.podUID }
            kept.append(sample)
        }
        return kept
    }

    public var cachedProcesses: Int { cache.count }
}
