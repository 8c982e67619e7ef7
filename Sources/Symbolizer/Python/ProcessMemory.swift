#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Reads another process's memory through `/proc/PID/mem` (needs ptrace access
/// to it: root, or CAP_SYS_PTRACE). Every read is bounded and fails as nil: the
/// process may exit or unmap the address at any moment.
public final class ProcessMemory {
    /// The largest single read.
    public static let maximumRead = 1 << 20
    public let pid: Int32
    private let fd: Int32

    /// Opens the process's memory; nil when it is gone or not readable.
    public init?(pid: Int32, procRoot: String = "/proc") {
        let fd = open("\(procRoot)/\(pid)/mem", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        self.pid = pid
        self.fd = fd
    }

    deinit { close(fd) }

    /// Exactly `count` bytes at `address`, or nil.
    public func read(_ address: UInt64, count: Int) -> [UInt8]? {
        guard count >= 0, count <= Self.maximumRead, address < 1 << 47, address + UInt64(count) <= 1 << 47 else { return nil }
        if count == 0 { return [] }
        var bytes = [UInt8](repeating: 0, count: count)
        let got = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(address)) }
        return got == count ? bytes : nil
    }

    /// The little-endian u64 at `address`.
    public func u64(_ address: UInt64) -> UInt64? {
        read(address, count: 8).map { LittleEndianBytes($0).u64(0) }
    }

    /// The little-endian u32 at `address`.
    public func u32(_ address: UInt64) -> UInt32? {
        read(address, count: 4).map { LittleEndianBytes($0).u32(0) }
    }
}
