/// The symbols of one JIT's perf map (`/tmp/perf-PID.map`): lines of
/// `START SIZE name`, START and SIZE in hex (an optional `0x`), written by
/// Node (`--perf-basic-prof`), the JVM (`jcmd PID Compiler.perfmap`) and
/// CPython 3.12+ (`-X perf`) as they compile code.
///
/// Built up as the file grows (`append(parsing:)` takes whole lines only).
/// JITs reuse addresses after code is freed, so where entries overlap the one
/// written last wins.
public struct PerfMapTable: Sendable {
    struct Entry: Sendable {
        var start: UInt64
        var end: UInt64
        /// Position in the file's order (later wins).
        var sequence: UInt32
        var name: String
    }

    /// Longest line read; a longer one is malformed (skipped).
    public static let maximumLineBytes = 4096
    /// Longest name kept (longer ones are cut, JVM signatures can be long).
    public static let maximumNameBytes = 1024
    /// Entries looked at before the one found by address, for a longer older one covering it.
    static let overlapScan = 32

    /// Sorted by start, then by sequence.
    private var entries: [Entry] = []
    private var pending: [Entry] = []
    /// Lines that did not parse.
    public private(set) var malformedLines = 0
    /// Bytes of the names held.
    public private(set) var nameBytes = 0
    private var nextSequence: UInt32 = 0

    public init() {}

    /// Entries held.
    public var count: Int { entries.count + pending.count }

    /// About what the table takes in memory: an entry's fields and string header, and its name.
    public var memoryBytes: Int { count * Self.entryOverhead + nameBytes }
    static let entryOverhead = 48

    /// Parses the complete lines at the start of `bytes`, adding entries while the
    /// table holds fewer than `limit` and takes less than `byteLimit` (`memoryBytes`;
    /// further lines are read and dropped). Returns how many bytes were
    /// consumed: up to and including the last newline, so a line still being
    /// written is read next time.
    @discardableResult
    public mutating func append(parsing bytes: ArraySlice<UInt8>, limit: Int = .max, byteLimit: Int = .max) -> Int {
        var lineStart = bytes.startIndex
        var consumed = 0
        while let newline = bytes[lineStart...].firstIndex(of: 0x0a) {
            let line = bytes[lineStart..<newline]
            if line.count > Self.maximumLineBytes {
                malformedLines += 1
            } else if !line.isEmpty, !line.allSatisfy({ $0 == 0x20 || $0 == 0x0d }) {
                if var entry = Self.parse(line) {
                    if count < limit && memoryBytes < byteLimit {
                        entry.sequence = nextSequence
                        nextSequence &+= 1
                        nameBytes += entry.name.utf8.count
                        pending.append(entry)
                    }
                } else {
                    malformedLines += 1
                }
            }
            lineStart = newline + 1
            consumed = lineStart - bytes.startIndex
        }
        return consumed
    }

    /// The name of the code at `address`, nil when no entry covers it.
    public mutating func name(at address: UInt64) -> String? {
        if !pending.isEmpty {
            entries.append(contentsOf: pending)
            pending.removeAll()
            entries.sort { ($0.start, $0.sequence) < ($1.start, $1.sequence) }
        }
        var low = 0, high = entries.count
        while low < high {
            let mid = (low + high) / 2
            if entries[mid].start <= address { low = mid + 1 } else { high = mid }
        }
        var best: Entry?
        var index = low - 1
        while index >= 0, index >= low - Self.overlapScan {
            let entry = entries[index]
            if address < entry.end, entry.sequence >= best?.sequence ?? 0 { best = entry }
            index -= 1
        }
        return best?.name
    }

    /// One line: hex start, hex size, then the name (which may hold spaces).
    static func parse(_ line: ArraySlice<UInt8>) -> Entry? {
        var index = line.startIndex
        func hexField() -> UInt64? {
            if line[index...].starts(with: [0x30, 0x78]) || line[index...].starts(with: [0x30, 0x58]) { index += 2 }
            var value: UInt64 = 0
            var digits = 0
            while index < line.endIndex, let digit = hexDigit(line[index]) {
                guard digits < 16 else { return nil }
                value = value << 4 | UInt64(digit)
                digits += 1
                index += 1
            }
            guard digits > 0, index < line.endIndex, line[index] == 0x20 else { return nil }
            while index < line.endIndex, line[index] == 0x20 { index += 1 }
            return value
        }
        guard let start = hexField(), let size = hexField(), size > 0, start <= UInt64.max - size else { return nil }
        var end = line.endIndex
        while end > index, line[end - 1] == 0x0d || line[end - 1] == 0x20 { end -= 1 }
        guard end > index else { return nil }
        var nameBytes = line[index..<end]
        if nameBytes.count > maximumNameBytes { nameBytes = nameBytes.prefix(maximumNameBytes) }
        return Entry(start: start, end: start + size, sequence: 0, name: String(decoding: nameBytes, as: UTF8.self))
    }

    static func hexDigit(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: byte - 0x30
        case 0x61...0x66: byte - 0x61 + 10
        case 0x41...0x46: byte - 0x41 + 10
        default: nil
        }
    }
}
