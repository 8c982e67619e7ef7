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
