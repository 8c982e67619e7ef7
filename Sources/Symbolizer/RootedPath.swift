#if canImport(Glibc)
import Glibc
#endif
import CSystemCalls

/// Opens a path as a process sees it, inside that process's root directory
/// (`/proc/PID/root`), so that nothing in the path can lead out of the root:
/// absolute symlinks and `..` stay inside it, and procfs magic links
/// (`/proc/self/root`, `/proc/1/fd/3`) are not followed.
///
/// The kernel does it (`openat2` with `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS`,
/// Linux 5.6+); elsewhere the path is walked one component at a time with
/// `O_NOFOLLOW`, each symlink's text resolved by the same rules.
/// What is returned is an `O_PATH` descriptor: nothing is opened for reading
/// (no open or access of the file is seen, no FIFO blocks) until the caller
/// has checked that it is the file it expects.
public enum RootedPath {
    /// Symlinks followed in one walk before giving up (the kernel's limit).
    static let maximumSymlinks = 40

    /// An `O_PATH` descriptor of `path` (absolute, as seen inside `root`).
    /// `kernelResolution: false` uses the component walk even where openat2 exists.
    public static func open(_ path: String, in root: String, kernelResolution: Bool = true) throws(ELFError) -> Int32 {
        let rootFD = Glibc.open(root, CSYS_O_PATH | O_DIRECTORY | O_CLOEXEC)
        guard rootFD >= 0 else { throw .cannotOpen(path: root + path, reason: String(cString: strerror(errno))) }
        defer { close(rootFD) }
        var fd: Int32 = -ENOSYS
        if kernelResolution {
            fd = csys_openat2(rootFD, path, UInt64(CSYS_O_PATH | O_CLOEXEC), UInt64(CSYS_RESOLVE_IN_ROOT | CSYS_RESOLVE_NO_MAGICLINKS))
        }
        // No openat2 (before 5.6), or a seccomp profile refusing it: walk the path ourselves.
        if fd == -ENOSYS || fd == -EPERM { fd = walk(rootFD, path) }
        guard fd >= 0 else { throw .cannotOpen(path: root + path, reason: String(cString: strerror(-fd))) }
        return fd
    }

    /// Resolves `path` below `rootFD` component by component: never lets the kernel
    /// follow a link, jumps to `rootFD` for absolute link targets, stops `..` at it.
    /// Returns an `O_PATH` descriptor or -errno.
    static func walk(_ rootFD: Int32, _ path: String) -> Int32 {
        var pending = components(path)  // still to resolve, reversed (next one last)
        var stack: [Int32] = []  // descriptors of the directories below the root, deepest last
        defer { stack.forEach { close($0) } }
        var followed = 0
        while let name = pending.popLast() {
            switch name {
            case ".": continue
            case "..":
                if let parent = stack.popLast() { close(parent) }
                continue
            default: break
            }
            let fd = openat(stack.last ?? rootFD, name, CSYS_O_PATH | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { return -errno }
            var info = stat()
            guard fstat(fd, &info) == 0 else { let code = errno; close(fd); return -code }
            if (info.st_mode & S_IFMT) == S_IFLNK {
                let target = readLink(fd)
                close(fd)
                followed += 1
                guard let target, followed <= maximumSymlinks else { return -ELOOP }
                if target.hasPrefix("/") {
                    stack.forEach { close($0) }
                    stack.removeAll()
                }
                pending += components(target)  // reversed like `pending`: its first component is next
                continue
            }
            if !pending.isEmpty, (info.st_mode & S_IFMT) != S_IFDIR {
                close(fd)
                return -ENOTDIR
            }
            stack.append(fd)
        }
        guard let last = stack.popLast() else { return fcntl(rootFD, F_DUPFD_CLOEXEC, 0) }
        return last
    }

    /// The text of the symlink `fd` (opened with O_PATH | O_NOFOLLOW).
    static func readLink(_ fd: Int32) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlinkat(fd, "", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func components(_ path: String) -> [String] {
        path.split(separator: "/").map(String.init).reversed()
    }
}
