/// One line of `/proc/PID/maps`.
public struct MemoryMapping: Sendable, Hashable {
    public var start: UInt64
    public var end: UInt64
    /// Offset in the file of the byte mapped at `start`.
    public var offset: UInt64
    public var isExecutable: Bool
    /// "major:minor" of the file's device.
    public var device: String
    public var inode: UInt64
    /// The file path, a pseudo name such as "[vdso]", or "" for anonymous memory.
    public var path: String
    /// The file was deleted (or replaced) after it was mapped.
    public var isDeleted: Bool

    /// Whether this maps a file (as opposed to anonymous memory or "[vdso]").
    public var isFile: Bool { path.hasPrefix("/") && inode != 0 }

    /// The file offset of the byte at `address` (which lies in the mapping).
    public func fileOffset(of address: UInt64) -> UInt64 { address - start + offset }

    /// Whether `path` (in the reader's own mount namespace) is the very file
    /// mapped here: same device and inode.
    public func isMapped(from path: String) -> Bool {
        var info = stat()
        guard stat(path, &info) == 0 else { return false }
        return isMapped(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
    }

    /// Whether a file with this `st_dev` and `st_ino` is the very file mapped here.
    public func isMapped(device dev: UInt64, inode: UInt64) -> Bool {
        guard self.inode != 0, inode == self.inode else { return false }
        let parts = device.split(separator: ":")
        guard parts.count == 2, let major = UInt64(parts[0], radix: 16), let minor = UInt64(parts[1], radix: 16) else { return false }
        return major == ((dev >> 8) & 0xfff) | ((dev >> 32) & ~0xfff) && minor == (dev & 0xff) | ((dev >> 12) & ~0xff)
    }
}

/// The executable mappings of a process, from `/proc/PID/maps`.
public struct ProcessMaps: Sendable {
    /// Executable mappings, sorted by start address.
    public let mappings: [MemoryMapping]

    /// Parses the text of a maps file. Lines that do not parse are skipped;
    /// only executable mappings are kept.
    public init(parsing text: [UInt8]) {
        var mappings: [MemoryMapping] = []
        var lineStart = 0
        while lineStart < text.count {
            var lineEnd = lineStart
            while lineEnd < text.count && text[lineEnd] != 0x0a { lineEnd += 1 }
            if let mapping = Self.parseLine(text[lineStart..<lineEnd]), mapping.isExecutable {
                mappings.append(mapping)
            }
            lineStart = lineEnd + 1
        }
        self.mappings = mappings.sorted { $0.start < $1.start }
    }

    /// Reads `/proc/PID/maps` (below `procRoot`).
    public static func read(pid: Int32, procRoot: String = "/proc") throws(SymbolizerError) -> ProcessMaps {
        guard let text = readWholeFile("\(procRoot)/\(pid)/maps", limit: 64 << 20) else {
            let code = errno
            if code == EACCES || code == EPERM { throw .processNotReadable(pid: pid, reason: String(cString: strerror(code))) }
            throw .processUnavailable(pid: pid, reason: String(cString: strerror(code)))
        }
        return ProcessMaps(parsing: text)
    }

    /// The mapping containing `address`, if any.
    public func mapping(containing address: UInt64) -> MemoryMapping? {
        var low = 0, high = mappings.count
        while low < high {
            let mid = (low + high) / 2
            if mappings[mid].start <= address { low = mid + 1 } else { high = mid }
        }
        guard low > 0, address < mappings[low - 1].end else { return nil }
        return mappings[low - 1]
    }

    /// Parses "start-end perms offset dev inode [path]".
    static func parseLine(_ line: ArraySlice<UInt8>) -> MemoryMapping? {
        var fields: [ArraySlice<UInt8>] = []
        var at = line.startIndex
        while fields.count < 5 {
            while at < line.endIndex && line[at] == 0x20 { at += 1 }
            let start = at
            while at < line.endIndex && line[at] != 0x20 { at += 1 }
            guard at > start else { return nil }
            fields.append(line[start..<at])
        }
        while at < line.endIndex && (line[at] == 0x20 || line[at] == 0x09) { at += 1 }
        var path = String(decoding: line[at..<line.endIndex], as: UTF8.self)

        guard let dash = fields[0].firstIndex(of: 0x2d),
              let start = parseHex(fields[0][fields[0].startIndex..<dash]),
              let end = parseHex(fields[0][(dash + 1)...]), end > start,
              fields[1].count >= 4,
              let offset = parseHex(fields[2]), offset <= UInt64.max - (end - start),  // file offsets stay representable
              let inode = UInt64(String(decoding: fields[4], as: UTF8.self))
        else { return nil }
        var deleted = false
        if path.hasSuffix(" (deleted)") {
            deleted = true
            path.removeLast(" (deleted)".count)
        }
        return MemoryMapping(
            start: start, end: end, offset: offset,
            isExecutable: fields[1][fields[1].startIndex + 2] == 0x78,  // 'x'
            device: String(decoding: fields[3], as: UTF8.self), inode: inode,
            path: path, isDeleted: deleted)
    }

    static func parseHex(_ text: ArraySlice<UInt8>) -> UInt64? {
        guard !text.isEmpty, text.count <= 16 else { return nil }
        var value: UInt64 = 0
        for c in text {
            guard let digit = hexDigit(c) else { return nil }
            value = value << 4 | UInt64(digit)
        }
        return value
    }
}

#if canImport(Glibc)
import Glibc
#endif
