/// Everything that stops the agent, each with a message naming the cause and
/// what to do about it.
public enum AgentError: Error, Equatable, CustomStringConvertible {
    /// Missing root / capabilities: the names of the missing capabilities.
    case insufficientPrivileges(missing: [String])
    /// No kernel BTF at `path` (CO-RE needs it).
    case btfUnavailable(path: String)
    /// libbpf could not open or load a BPF object; `verifierLog` holds the
    /// last lines libbpf reported (the verifier's verdict for a rejection).
    case bpfLoadFailed(object: String, reason: String, verifierLog: [String])
    /// perf_event_open failed on a CPU.
    case perfEventFailed(cpu: Int, reason: String)
    /// A loaded program could not be attached.
    case attachFailed(program: String, reason: String)
    /// A requested process does not exist.
    case noSuchProcess(pid: Int32)
    /// A BPF map could not be read or written.
    case mapAccessFailed(map: String, reason: String)
    /// The result could not be written.
    case outputFailed(path: String, reason: String)
    /// An option value the agent cannot use.
    case invalidOption(String)

    public var description: String {
        switch self {
        case .insufficientPrivileges(let missing):
            "insufficient privileges: loading BPF programs and opening perf events needs root, or the capabilities "
                + "CAP_BPF and CAP_PERFMON (missing: \(missing.joined(separator: ", "))); run with sudo or grant them"
        case .btfUnavailable(let path):
            "kernel BTF not found at \(path): the kernel must be built with CONFIG_DEBUG_INFO_BTF=y, "
                + "or pass --btf FILE with this kernel's BTF (e.g. from BTFHub)"
        case .bpfLoadFailed(let object, let reason, let log):
            "failed to load BPF object '\(object)': \(reason)"
                + (log.isEmpty ? "" : "\n--- last lines of the libbpf/verifier log ---\n" + log.joined(separator: "\n"))
        case .perfEventFailed(let cpu, let reason):
            "cannot open a CPU-clock perf event on CPU \(cpu): \(reason)"
        case .attachFailed(let program, let reason):
            "cannot attach BPF program '\(program)': \(reason)"
        case .noSuchProcess(let pid):
            "no process with PID \(pid)"
        case .mapAccessFailed(let map, let reason):
            "cannot access BPF map '\(map)': \(reason)"
        case .outputFailed(let path, let reason):
            "cannot write \(path): \(reason)"
        case .invalidOption(let what):
            what
        }
    }
}
