/// Finds separate debug files the way gdb and llvm-symbolizer do: by build-id
/// (`DIR/.build-id/ab/cdef….debug`) and by `.gnu_debuglink` name
/// (`DIR/<binary's dir>/NAME`, `<binary's dir>/NAME`, `<binary's dir>/.debug/NAME`).
public struct DebugFileLocator: Sendable {
    /// Global debug directories, e.g. ["/usr/lib/debug"].
    public var directories: [String]

    public init(directories: [String] = ["/usr/lib/debug"]) {
        self.directories = directories
    }

    /// Candidate paths, best first. `root` prefixes paths seen from inside a
    /// container ("/proc/PID/root"; "" for the host); `binaryPath` is the
    /// binary's path as the process sees it.
    public func candidates(buildID: String, debugLink: String?, binaryPath: String, root: String) -> [String] {
        var paths: [String] = []
        let roots = root.isEmpty ? [""] : [root, ""]
        if buildID.count > 2 {
            let head = buildID.prefix(2), tail = buildID.dropFirst(2)
            for r in roots {
                for dir in directories { paths.append("\(r)\(dir)/.build-id/\(head)/\(tail).debug") }
            }
        }
        if let link = debugLink, !link.isEmpty, !link.contains("/") {
            let dir = binaryPath.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
            for r in roots {
                for global in directories { paths.append("\(r)\(global)\(dir)/\(link)") }
                paths.append("\(r)\(dir)/.debug/\(link)")
                if "\(dir)/\(link)" != binaryPath { paths.append("\(r)\(dir)/\(link)") }
            }
        }
        return paths
    }
}
