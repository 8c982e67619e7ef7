import Symbolizer
import CgroupParsing

/// Adds per-process syscall counts to the per-container histograms: each pid
/// is named by its container (from /proc/PID/cgroup), or, for a process that has
/// exited, by the container its cgroup id was last seen with.
final class ContainerSyscallAttribution: @unchecked Sendable {
    let latency: Locked<ContainerSyscallLatency>
    /// Which container a cgroup id belongs to (sampling thread only).
    private var cgroupContainers = CgroupContainers()

    init(maxContainers: Int) {
        latency = Locked(ContainerSyscallLatency(maxContainers: maxContainers))
    }

    /// Called by the sampling thread once per drain.
    func add(_ counts: [ProcessSyscallCount], metadata: ProcessMetadata) {
        guard !counts.isEmpty else { return }
        var names: [Int32: String] = [:]
        for count in counts where names[count.pid] == nil {
            let process = metadata.metadata(of: count.pid)
            if process.cgroupPath.isEmpty {  // exited: its cgroup may still be known
                names[count.pid] = cgroupContainers.container(of: count.cgroupID) ?? ContainerSyscallLatency.unknown
            } else {
                cgroupContainers.learn(cgroup: count.cgroupID, container: process.containerID)
                names[count.pid] = process.containerID
            }
        }
        latency.withLock { $0.add(counts) { names[$0.pid] ?? ContainerSyscallLatency.unknown } }
    }
}
