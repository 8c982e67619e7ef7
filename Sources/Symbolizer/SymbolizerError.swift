/// Failures of the symbolizer that a caller may want to report.
public enum SymbolizerError: Error, Equatable, CustomStringConvertible {
    /// `/proc/kallsyms` could not be used.
    case kernelSymbolsUnavailable(String)
    /// `/proc/PID/maps` could not be read: the process is gone or hidden.
    case processUnavailable(pid: Int32, reason: String)
    /// `/proc/PID/maps` exists but may not be read: the agent lacks CAP_SYS_PTRACE
    /// (or a security module refused) for this process.
    case processNotReadable(pid: Int32, reason: String)

    public var description: String {
        switch self {
        case .kernelSymbolsUnavailable(let why): "kernel symbols unavailable: \(why)"
        case .processUnavailable(let pid, let why): "process \(pid) unavailable: \(why)"
        case .processNotReadable(let pid, let why): "process \(pid) not readable: \(why) (the agent needs CAP_SYS_PTRACE for other users' processes)"
        }
    }
}
