/// Where the file behind a process mapping may be opened. Whichever way, the
/// file is accepted only if its device and inode are the mapping's: a process
/// cannot make the agent parse (and report names from) another file by
/// swapping its path for a symlink or mounting over it.
public enum BinaryCandidate: Sendable, Equatable {
    /// `path` as the process sees it, resolved inside `root` (its `/proc/PID/root`):
    /// absolute symlinks and `..` stay in the root, magic links are refused, and
    /// a file that is not the mapped one is never opened for reading.
    case inRoot(path: String, root: String)
    /// A path in the agent's own namespace: `/proc/PID/map_files/…` (the mapped
    /// inode itself) or the same path on the host.
    case path(String)

    /// Opens the candidate if it is the file `mapping` maps.
    public func open(_ mapping: MemoryMapping) -> Result<FileByteSource, ELFError> {
        let isMapped = { (identity: FileIdentity) in mapping.isMapped(device: identity.device, inode: identity.inode) }
        do throws(ELFError) {
            switch self {
            case .inRoot(let path, let root):
                return .success(try FileByteSource(path: path, in: root, accept: isMapped))
            case .path(let path):
                let source = try FileByteSource(path: path)
                guard isMapped(source.identity) else {
                    throw .cannotOpen(path: path, reason: "not the mapped file (another device or inode)")
                }
                return .success(source)
            }
        } catch {
            return .failure(error)
        }
    }
}
