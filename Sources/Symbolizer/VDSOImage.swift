#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The kernel's vDSO (`[vdso]`: `clock_gettime`, `gettimeofday`, `getcpu`, `time`), read from
/// this process's own memory. The kernel maps the same image into every process of an
/// architecture (x86_64 here), containers included, so its `.dynsym` names the `[vdso]`
/// frames of any process without reading theirs.
public enum VDSOImage {
    /// Largest image accepted (the x86_64 vDSO is 8 KiB).
    static let maximumBytes: UInt64 = 1 << 20

    /// The parsed image, nil when this process has no vDSO (`vdso=0` on the kernel's
    /// command line) or it is not a readable ELF image.
    public static func load() -> LoadedBinary? {
        // This process's maps, read to the end (/proc files report size 0).
        let fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = [], chunk = [UInt8](repeating: 0, count: 1 << 16)
        while bytes.count < 1 << 24 {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            bytes += chunk[0..<n]
        }
        return image(in: ProcessMaps(parsing: bytes))
    }

    static func image(in maps: ProcessMaps) -> LoadedBinary? {
        guard let mapping = maps.mappings.first(where: { $0.path == "[vdso]" }),
              mapping.end > mapping.start, mapping.end - mapping.start <= maximumBytes,
              let base = UnsafeRawPointer(bitPattern: UInt(mapping.start)) else { return nil }
        let bytes = Array(UnsafeRawBufferPointer(start: base, count: Int(mapping.end - mapping.start)))
        guard let elf = try? ELFFile(source: MemoryByteSource(bytes)), let symbols = try? elf.functionSymbols(), symbols.count > 0 else { return nil }
        return LoadedBinary(elf: elf, symbols: symbols, symbolSource: "[vdso]")
    }
}
