import Foundation
import Symbolizer

/// A shared library mapped by some process, identified by its file.
public struct MappedLibrary: Sendable, Hashable {
    /// The file's device ("major:minor" as /proc/PID/maps prints it) and inode:
    /// uprobes attach per inode, so one attachment covers every process mapping it.
    public var device: String
    public var inode: UInt64
    /// The path as the process sees it (inside its container).
    public var path: String
    /// Paths the agent can open: through the roots (`/proc/PID/root/...`) of up to
    /// four processes mapping it, the longest-lived (lowest pid) first, so that
    /// one exiting meanwhile does not hide the file.
    public var hostPaths: [String]
    /// One process's mapping of it: the device and inode a file must have to be it.
    public var mapping: MemoryMapping
    /// Where to open it, best first: inside each of those processes' roots, then
    /// through their `/proc/PID/map_files` (the mapped inode itself).
    public var candidates: [BinaryCandidate] {
        hostPaths.map { .inRoot(path: path, root: String($0.dropLast(path.utf8.count))) } + mapFiles.map { .path($0) }
    }
    var mapFiles: [String]
}

/// Finds libraries of interest (libc, libssl) in the processes of the node,
/// including those in containers. Each process is read once; processes started
/// later are found by the next scan.
public final class LibraryScanner {
    private let matches: (String) -> Bool
    private let procRoot: String
    private var scanned: Set<Int32> = []

    /// `matches` decides by the file name (the last path component).
    public init(procRoot: String = "/proc", matches: @escaping (String) -> Bool) {
        self.procRoot = procRoot
        self.matches = matches
    }

    /// Matching libraries of processes not scanned before (one entry per file).
    /// Processes that vanish meanwhile are skipped.
    public func scanNewProcesses() -> [MappedLibrary] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: procRoot) else { return [] }
        var live: Set<Int32> = []
        var found: [String: MappedLibrary] = [:]
        for pid in entries.compactMap({ Int32($0) }).filter({ $0 > 0 }).sorted() {
            live.insert(pid)
            guard !scanned.contains(pid) else { continue }
            guard let maps = try? ProcessMaps.read(pid: pid, procRoot: procRoot) else { continue }
            for mapping in maps.mappings where mapping.isFile && !mapping.isDeleted {
                let name = mapping.path.split(separator: "/").last.map(String.init) ?? ""
                guard matches(name) else { continue }
                let key = "\(mapping.device):\(mapping.inode)"
                let hostPath = "\(procRoot)/\(pid)/root\(mapping.path)"
                let mapFile = "\(procRoot)/\(pid)/map_files/\(String(mapping.start, radix: 16))-\(String(mapping.end, radix: 16))"
                if found[key] == nil {
                    found[key] = MappedLibrary(device: mapping.device, inode: mapping.inode, path: mapping.path, hostPaths: [hostPath],
                                               mapping: mapping, mapFiles: [mapFile])
                } else if found[key]!.hostPaths.count < 4, !found[key]!.hostPaths.contains(hostPath) {
                    found[key]!.hostPaths.append(hostPath)
                    found[key]!.mapFiles.append(mapFile)
                }
            }
        }
        scanned = live.union(scanned.intersection(live))
        return found.values.sorted { $0.path < $1.path }
    }

    /// libc of glibc ("libc.so.6", "libc-2.31.so") and of musl ("ld-musl-x86_64.so.1", "libc.musl-x86_64.so.1").
    public static func isLibc(_ name: String) -> Bool {
        name.hasPrefix("libc.so") || (name.hasPrefix("libc-") && name.hasSuffix(".so"))
            || name.hasPrefix("ld-musl-") || name.hasPrefix("libc.musl-")
    }

    /// OpenSSL's libssl ("libssl.so.3", "libssl.so.1.1"); not NSS's "libssl3.so".
    public static func isLibSSL(_ name: String) -> Bool {
        name.hasPrefix("libssl.so")
    }
}
