import CBPF
import Foundation
import Symbolizer

/// Checks made before anything is loaded, so that a missing privilege, BTF
/// or process is reported as one clear message and nothing is attached.
public enum Preflight {
    public static let kernelBTF = "/sys/kernel/btf/vmlinux"

    /// Checks privileges, BTF and the requested processes, in that order.
    /// Returns the process ids to filter on (a thread id becomes its process's id).
    public static func check(btfPath: String?, pids: [Int32]) throws(AgentError) -> [Int32] {
        try Privileges.current().requireSampling()
        let btf = btfPath ?? kernelBTF
        guard FileManager.default.isReadableFile(atPath: btf) else { throw .btfUnavailable(path: btf) }
        var processes: [Int32] = []
        for pid in pids {
            guard let process = processID(of: pid) else { throw .noSuchProcess(pid: pid) }
            if !processes.contains(process) { processes.append(process) }
        }
        return processes
    }

    /// Cached binaries keep their file open (their names are read on demand) and
    /// every CPU has perf events: lift the soft open-file limit to the hard one
    /// (at most 65536), as the 1024 default is easily reached on a busy node.
    public static func raiseOpenFileLimit() {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        let wanted = min(limit.rlim_max, 65536)
        if limit.rlim_cur < wanted {
            limit.rlim_cur = wanted
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
    }

    /// Loading a big binary's symbol table reads tens of MB that are freed right
    /// away. glibc raises its mmap threshold after such a free, so later big
    /// buffers come from the heap and stay resident; a fixed 256 KiB threshold
    /// keeps them mapped and returned. (Measured: 116 → 74 MB RSS after sampling
    /// a Swift build.)
    public static func limitHeapRetention() {
        _ = cbpf_set_mmap_threshold(256 << 10)
    }

    /// The process (thread group) a PID or TID belongs to; nil when it does not exist.
    public static func processID(of id: Int32) -> Int32? {
        guard id > 0, let bytes = readWholeFile("/proc/\(id)/status") else { return nil }
        let status = String(decoding: bytes, as: UTF8.self)
        for line in status.split(separator: "\n") where line.hasPrefix("Tgid:") {
            return Int32(line.dropFirst(5).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }
}
