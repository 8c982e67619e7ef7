#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Random-access bytes of an ELF image: a file read with `pread`, or memory.
///
/// Files are read, not mapped: a mapped file truncated under us (a library
/// rewritten in place) would kill the agent with SIGBUS.
public protocol ByteSource: Sendable {
    /// Total size in bytes.
    var size: UInt64 { get }
    /// Exactly `count` bytes at `offset`; throws when they are not all there.
    func read(offset: UInt64, count: Int) throws(ELFError) -> [UInt8]
}

/// An ELF image held in memory (tests, fuzzing, the vDSO).
public struct MemoryByteSource: ByteSource {
    public let bytes: [UInt8]
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public var size: UInt64 { UInt64(bytes.count) }

    public func read(offset: UInt64, count: Int) throws(ELFError) -> [UInt8] {
        guard count >= 0, offset <= size, UInt64(count) <= size - offset else {
            throw .truncated("wants \(count) bytes at offset \(offset) of a \(size)-byte image")
        }
        let start = Int(offset)
        return Array(bytes[start..<start + count])
    }
}

/// An open file read with `pread`; the descriptor closes with the last copy.
public final class FileByteSource: ByteSource {
    public let path: String
    public let size: UInt64
    /// Identity of the file, for caching: (device, inode, mtime seconds, mtime nanoseconds, size).
    public let identity: FileIdentity
    private let fd: Int32

    /// Opens `path` read-only. Throws `.cannotOpen` naming the errno text.
    public convenience init(path: String) throws(ELFError) {
        // O_NONBLOCK: a FIFO planted where a binary or debug file is expected must not hang us.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else { throw .cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        try self.init(descriptor: fd, path: path)
    }

    /// Opens `path` (absolute, as seen inside `root`, e.g. "/proc/PID/root") without
    /// leaving the root (`RootedPath`), and only if it is the file `accept` wants:
    /// a file that is not is never opened for reading. `path` in errors is `root + path`.
    public convenience init(path: String, in root: String, accept: (FileIdentity) -> Bool) throws(ELFError) {
        let pathFD = try RootedPath.open(path, in: root)
        defer { close(pathFD) }
        let shown = root + path
        var st = stat()
        guard fstat(pathFD, &st) == 0 else { throw .cannotOpen(path: shown, reason: String(cString: strerror(errno))) }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw .cannotOpen(path: shown, reason: "not a regular file") }
        guard accept(FileIdentity(st)) else { throw .cannotOpen(path: shown, reason: "not the mapped file (another device or inode)") }
        // The O_PATH descriptor pins the checked inode: reopening it reads that very file.
        let fd = open("/proc/self/fd/\(pathFD)", O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else { throw .cannotOpen(path: shown, reason: String(cString: strerror(errno))) }
        try self.init(descriptor: fd, path: shown)
    }

    /// Takes ownership of `fd`, open for reading (closed here when it is not a regular file).
    init(descriptor fd: Int32, path: String) throws(ELFError) {
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw .cannotOpen(path: path, reason: reason)
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw .cannotOpen(path: path, reason: "not a regular file")
        }
        self.fd = fd
        self.path = path
        self.size = UInt64(st.st_size)
        self.identity = FileIdentity(st)
    }

    deinit { close(fd) }

    /// A path to this very open file, for the agent's own system calls
    /// (`/proc/self/fd/N`; valid while this source lives).
    public var descriptorPath: String { "/proc/self/fd/\(fd)" }

    public func read(offset: UInt64, count: Int) throws(ELFError) -> [UInt8] {
        guard count >= 0, offset <= size, UInt64(count) <= size - offset else {
            throw .truncated("wants \(count) bytes at offset \(offset) of a \(size)-byte file")
        }
        if count == 0 { return [] }
        var buffer = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = buffer.withUnsafeMutableBytes { raw in
                pread(fd, raw.baseAddress! + done, count - done, off_t(offset) + off_t(done))
            }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw .truncated("file \(path) ended while reading (was it rewritten?)") }
            done += n
        }
        return buffer
    }
}

/// What identifies one version of a file on disk.
public struct FileIdentity: Hashable, Sendable {
    public var device: UInt64
    public var inode: UInt64
    public var modified: Int64
    public var size: UInt64
    /// The owner's user id (not part of the identity: equal files have equal owners).
    public var owner: UInt32 = 0

    public static func == (a: FileIdentity, b: FileIdentity) -> Bool {
        (a.device, a.inode, a.modified, a.size) == (b.device, b.inode, b.modified, b.size)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(device); hasher.combine(inode); hasher.combine(modified); hasher.combine(size)
    }
}

extension FileIdentity {
    init(_ st: stat) {
        self.init(device: UInt64(st.st_dev), inode: UInt64(st.st_ino),
                  modified: Int64(st.st_mtim.tv_sec) &* 1_000_000_000 &+ Int64(st.st_mtim.tv_nsec),
                  size: UInt64(st.st_size), owner: UInt32(st.st_uid))
    }
}
