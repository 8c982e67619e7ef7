#if canImport(Glibc)
import Glibc
#endif

/// Kernel function symbols from `/proc/kallsyms` (text symbols of the kernel
/// and its modules), for kernel stack frames.
public struct KallsymsTable: Sendable {
    public let symbols: SymbolTable

    /// Parses kallsyms text ("ffffffff81000000 T _stext" lines, with an
    /// optional "\t[module]" suffix). Malformed lines are skipped.
    public init(contents: [UInt8]) {
        var entries: [SymbolTable.Entry] = []
        var names: [UInt8] = []
        entries.reserveCapacity(contents.count / 40)
        names.reserveCapacity(contents.count / 2)
        contents.withUnsafeBufferPointer { text in
            var at = 0
            let end = text.count
            while at < end {
                var lineEnd = at
                while lineEnd < end && text[lineEnd] != 0x0a { lineEnd += 1 }
                defer { at = lineEnd + 1 }
                // address
                var address: UInt64 = 0
                var i = at
                var digits = 0
                while i < lineEnd, let digit = hexDigit(text[i]) {
                    address = address &<< 4 | UInt64(digit)
                    i += 1
                    digits += 1
                }
                guard digits > 0, i + 3 <= lineEnd, text[i] == 0x20, text[i + 2] == 0x20 else { continue }
                let type = text[i + 1] | 0x20  // lowercase
                guard type == 0x74 || type == 0x77 else { continue }  // t, w
                let nameStart = i + 3
                var nameEnd = nameStart
                while nameEnd < lineEnd && text[nameEnd] != 0x09 && text[nameEnd] != 0x20 { nameEnd += 1 }
                guard nameEnd > nameStart, address != 0 else { continue }
                // The ends of the kernel's text cover nothing past themselves: an address after
                // them is in no function until the next symbol (a module not read yet), not "_etext".
                let name = UnsafeBufferPointer(rebasing: text[nameStart..<nameEnd])
                let isEnd = name.elementsEqual("_etext".utf8) || name.elementsEqual("_einittext".utf8)
                entries.append(.init(address: address, size: isEnd ? 1 : 0, nameStart: UInt32(names.count)))
                names.append(contentsOf: UnsafeBufferPointer(rebasing: text[nameStart..<nameEnd]))
                names.append(0)
            }
        }
        symbols = SymbolTable(entries: entries, names: .memory(names), kind: .kallsyms)
    }

    /// Reads and parses `path` (default `/proc/kallsyms`).
    /// Throws when it is unreadable or every address is hidden (kptr_restrict).
    public static func load(path: String = "/proc/kallsyms") throws(SymbolizerError) -> KallsymsTable {
        guard let contents = readWholeFile(path) else {
            throw .kernelSymbolsUnavailable("cannot read \(path): \(String(cString: strerror(errno)))")
        }
        let table = KallsymsTable(contents: contents)
        guard table.symbols.count > 0 else {
            throw .kernelSymbolsUnavailable("\(path) lists no usable addresses (hidden by kernel.kptr_restrict? run as root or with CAP_SYSLOG)")
        }
        return table
    }

    /// The kernel function containing `address`, if any.
    public func lookup(_ address: UInt64) -> String? { symbols.lookup(address)?.name }
}

@inline(__always)
func hexDigit(_ c: UInt8) -> UInt8? {
    switch c {
    case 0x30...0x39: c - 0x30
    case 0x61...0x66: c - 0x61 + 10
    case 0x41...0x46: c - 0x41 + 10
    default: nil
    }
}

/// Reads a whole file, including procfs files that report size 0 (Foundation's
/// readers stop after the first page of those). Returns nil, errno set, on failure.
public func readWholeFile(_ path: String, limit: Int = 1 << 30) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var result: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while result.count < limit {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n < 0 { return nil }
        if n == 0 { break }
        result.append(contentsOf: chunk[0..<n])
    }
    return result
}
