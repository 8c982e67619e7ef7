import CBPF
import Foundation
import Symbolizer

/// Puts unwind tables where the BPF unwinder finds them (`bpf/unwind.h`): one
/// table per file (device and inode), shared by every process mapping it, built
/// on first sight and removed when no described process maps the file; and each
/// described process's executable mappings with their load bias.
///
/// Used by one thread at a time (`Locked`: the sampling thread and the request
/// reader). Every failure is per file (its mappings fall back to frame pointers)
/// or per process (left to the kernel's frame-pointer walk), counted.
final class UnwindTableLoader: @unchecked Sendable {
    struct Statistics: Sendable, Equatable {
        /// Files whose tables are loaded, and the rows/rules/pages they take.
        var files = 0
        var rows = 0
        var rules = 0
        var pages = 0
        /// Bytes of BPF map memory the loaded tables use.
        var bytes = 0
        /// Processes described.
        var processes = 0
        /// Files given frame pointers: no table, unreadable, or no room in the maps.
        var filesWithoutTable = 0
        /// Files left to frame pointers for lack of room (too big for the budget's quarter, or nothing evictable).
        var filesOverBudget = 0
        /// Tables dropped to make room for a more recently sampled file's.
        var filesEvicted = 0
        /// Files loaded without a page index (no room in unwind_pages): searched whole.
        var filesWithoutPageIndex = 0
        /// Time spent building tables.
        var buildNanoseconds: UInt64 = 0
    }

    private struct FileKey: Hashable { var device: String; var inode: UInt64 }

    private struct LoadedFile {
        var id: UInt32
        var firstRow: UInt32, rowCount: UInt32
        var firstPage: UInt32, pageCount: UInt32
        /// Segments of the ELF file, for the bias of each mapping.
        var segments: [ELFFile.LoadSegment]
        var users = 0
        /// When a process mapping it was last sampled or described (`useClock`).
        var lastUsed: UInt64 = 0
    }

    /// A described process: its entry as written (sorted by start) and the file of each mapping.
    private struct Described {
        var files: [FileKey]
        var digest: Int
        var entries: [unwind_mapping]
        var entryFiles: [FileKey?]
        /// A mapping of it went to frame pointers for lack of room: worth another try later.
        var overBudget: Bool
    }

    private let maps: SharedBPFMaps
    private let procRoot: String
    private var files: [FileKey: LoadedFile] = [:]
    /// Files with no usable table (and their segments, for the bias of their mappings).
    private var withoutTable: [FileKey: [ELFFile.LoadSegment]] = [:]
    /// Described processes.
    private var processes: [Int32: Described] = [:]
    /// Advanced at every `touch`: the recency of files.
    private var useClock: UInt64 = 1
    /// Files described in the `describe` in progress: never evicted for each other.
    private var pinned: Set<FileKey> = []
    private var ruleNumbers: [UnwindTable.Rule: UInt32] = [:]
    private var rowSpace: RangeAllocator
    private var pageSpace: RangeAllocator
    private var fileIDs: RangeAllocator
    private var nextRule: UInt32 = 1
    /// `unwind_process.generation` of the next entry written: a new one each
    /// time, so BPF's rule cache never applies a rule of an earlier description.
    private var nextGeneration: UInt32 = 1
    private let ruleCapacity: UInt32
    private(set) var statistics = Statistics()
    /// The CPython processes among those described (their frames walked in BPF).
    let python: CPythonProcesses

    init(maps: SharedBPFMaps, procRoot: String = "/proc") {
        self.maps = maps
        self.procRoot = procRoot
        python = CPythonProcesses(maps: maps, procRoot: procRoot)
        rowSpace = RangeAllocator(capacity: maps.capacity(of: "unwind_rows"))
        pageSpace = RangeAllocator(capacity: maps.capacity(of: "unwind_pages"))
        fileIDs = RangeAllocator(capacity: maps.capacity(of: "unwind_files"), reserved: 1)
        ruleCapacity = maps.capacity(of: "unwind_rules")
        var invalid = unwind_rule()
        var zero: UInt32 = 0
        bpf_map_update_elem(maps.fd(of: "unwind_rules"), &zero, &invalid, UInt64(BPF_ANY))
    }

    /// Describes `pid` (again, when its executable mappings changed since, or
    /// with `force`: its entry was deleted in BPF at exec). Returns the maps it
    /// read, nil when the process is gone, unreadable or has no code mapped.
    @discardableResult
    func describe(_ pid: Int32, force: Bool = false) -> ProcessMaps? {
        guard let maps = try? ProcessMaps.read(pid: pid, procRoot: procRoot) else {
            forget(pid)
            return nil
        }
        let executable = maps.mappings.filter(\.isExecutable)
        guard !executable.isEmpty else {  // a kernel thread, or a process exiting
            forget(pid)
            return nil
        }
        let digest = executable.map { "\($0.start)-\($0.end):\($0.inode)" }.joined(separator: ",").hashValue
        python.update(pid, maps: maps, force: force || (processes[pid] != nil && processes[pid]?.digest != digest))
        if !force, processes[pid]?.digest == digest { return maps }
        var held: [FileKey] = []
        var entries: [unwind_mapping] = []
        var entryFiles: [FileKey?] = []
        var overBudget = false
        defer { pinned.removeAll() }
        for mapping in executable.sorted(by: { $0.start < $1.start }) where entries.count < Int(UNWIND_MAX_MAPPINGS) {
            var entry = unwind_mapping()
            entry.start = mapping.start
            entry.end = mapping.end
            entry.kind = UInt32(UNWIND_MAPPING_FRAME_POINTER.rawValue)
            var entryFile: FileKey?
            if mapping.isFile {
                let key = FileKey(device: mapping.device, inode: mapping.inode)
                pinned.insert(key)
                if let segments = load(key, mapping: mapping, pid: pid, overBudget: &overBudget) {
                    held.append(key)
                    files[key]?.users += 1
                    files[key]?.lastUsed = useClock
                    if let file = files[key], let vaddr = Self.virtualAddress(ofFileOffset: mapping.offset, in: segments) {
                        entry.bias = mapping.start &- vaddr
                        entry.file_id = file.id
                        entry.kind = UInt32(UNWIND_MAPPING_TABLE.rawValue)
                        entryFile = key
                    }
                }
            }
            entries.append(entry)
            entryFiles.append(entryFile)
        }
        release(processes[pid]?.files ?? [])
        processes[pid] = Described(files: held, digest: digest, entries: entries, entryFiles: entryFiles, overBudget: overBudget)
        write(pid, entries)
        statistics.processes = processes.count
        return maps
    }

    /// The ELF virtual address of a file offset (the PT_LOAD segment holding it), for a mapping's bias.
    static func virtualAddress(ofFileOffset offset: UInt64, in segments: [ELFFile.LoadSegment]) -> UInt64? {
        segments.first { offset >= $0.fileOffset && offset - $0.fileOffset < max($0.fileSize, 1) }
            .map { $0.virtualAddress &+ (offset - $0.fileOffset) }
    }

    /// Forgets a process (exited): its entry goes, and the tables no process maps any more.
    func forget(_ pid: Int32) {
        python.forget(pid)
        guard let described = processes.removeValue(forKey: pid) else { return }
        var key = pid
        bpf_map_delete_elem(maps.fd(of: "unwind_processes"), &key)
        release(described.files)
        statistics.processes = processes.count
    }

    /// The processes described now.
    var describedProcesses: [Int32] { Array(processes.keys) }

    /// Marks the files of `pids` (sampled since the last call) as used now: eviction takes the least recently used.
    func touch(_ pids: Set<Int32>) {
        useClock += 1
        for pid in pids {
            for key in processes[pid]?.files ?? [] { files[key]?.lastUsed = useClock }
        }
    }

    /// Whether `pid` has a mapping left to frame pointers for lack of room (worth describing again).
    func isOverBudget(_ pid: Int32) -> Bool { processes[pid]?.overBudget == true }

    /// The file's segments when it has a loaded table (loading it on first sight); nil otherwise.
    private func load(_ key: FileKey, mapping: MemoryMapping, pid: Int32, overBudget: inout Bool) -> [ELFFile.LoadSegment]? {
        if let file = files[key] { return file.segments }
        if withoutTable[key] != nil { return nil }
        let started = DispatchTime.now().uptimeNanoseconds
        defer { statistics.buildNanoseconds += DispatchTime.now().uptimeNanoseconds - started }
        guard let elf = openELF(of: mapping, pid: pid) else {
            withoutTable[key] = []
            statistics.filesWithoutTable += 1
            return nil
        }
        // Call-frame data takes 5-7 bytes per row (libc, CPython): a file that cannot fit is not parsed at all.
        let callFrameBytes = elf.sections.filter { $0.name == ".eh_frame" || $0.name == ".debug_frame" }.reduce(0) { $0 + $1.size }
        // No file may take more than a quarter of the rows: one huge binary (a compiler) must not starve the rest.
        guard callFrameBytes / 8 <= UInt64(rowSpace.capacity / 4) else {
            withoutTable[key] = []
            statistics.filesOverBudget += 1
            return nil
        }
        guard let table = readTable(elf, of: mapping, pid: pid), let encoded = UnwindTableEncoding(table) else {
            withoutTable[key] = []
            statistics.filesWithoutTable += 1
            return nil
        }
        guard encoded.rows.count <= Int(rowSpace.capacity / 4) else {
            withoutTable[key] = []
            statistics.filesOverBudget += 1
            return nil
        }
        // Rules are shared and never freed: evicting files would not make room for new ones.
        guard nextRule + UInt32(Set(table.rules).subtracting(ruleNumbers.keys).count) <= ruleCapacity else {
            overBudget = true
            statistics.filesOverBudget += 1
            return nil
        }
        // No room: the least recently used tables go back to frame pointers until this one fits.
        var uploaded = upload(encoded, rules: table.rules, segments: elf.segments)
        while uploaded == nil, let victim = leastRecentlyUsed() {
            evict(victim)
            uploaded = upload(encoded, rules: table.rules, segments: elf.segments)
        }
        guard var file = uploaded else {
            // Tried again when the process is next described.
            overBudget = true
            statistics.filesOverBudget += 1
            return nil
        }
        file.lastUsed = useClock
        files[key] = file
        return file.segments
    }

    /// The loaded file used least recently, outside the describe in progress; among
    /// equals the lowest rows first, so that successive victims leave one merged hole
    /// (ranges are first-fit and never moved: a table may still need more than its
    /// size in victims when the holes they leave are not adjacent).
    private func leastRecentlyUsed() -> FileKey? {
        files.filter { !pinned.contains($0.key) }
            .min { ($0.value.lastUsed, $0.value.firstRow) < ($1.value.lastUsed, $1.value.firstRow) }?.key
    }

    /// Drops a file's table: the processes mapping it walk that code with frame pointers (their
    /// entries rewritten first, so that no walk reads the rows once they are reused).
    private func evict(_ key: FileKey) {
        for (pid, var described) in processes where described.files.contains(key) {
            for index in described.entries.indices where described.entryFiles[index] == key {
                described.entries[index].kind = UInt32(UNWIND_MAPPING_FRAME_POINTER.rawValue)
                described.entries[index].file_id = 0
                described.entryFiles[index] = nil
            }
            described.files.removeAll { $0 == key }
            described.overBudget = true
            processes[pid] = described
            write(pid, described.entries)
        }
        files[key]?.users = 1
        release([key])
        statistics.filesEvicted += 1
    }

    /// The mapped file's ELF headers: the exact mapped inode through map_files first;
    /// else the path in the process's root, accepted only with the mapping's inode.
    private func openELF(of mapping: MemoryMapping, pid: Int32) -> ELFFile? {
        for path in candidatePaths(of: mapping, pid: pid) {
            guard let source = try? FileByteSource(path: path), source.identity.inode == mapping.inode,
                  let elf = try? ELFFile(source: source) else { continue }
            return elf
        }
        return nil
    }

    private func candidatePaths(of mapping: MemoryMapping, pid: Int32) -> [String] {
        let proc = "\(procRoot)/\(pid)"
        var candidates = ["\(proc)/map_files/\(String(mapping.start, radix: 16))-\(String(mapping.end, radix: 16))"]
        if !mapping.isDeleted { candidates.append("\(proc)/root\(mapping.path)") }
        return candidates
    }

    /// The file's unwind table; with a separate debug file's `.debug_frame` when
    /// its own `.eh_frame` has almost nothing (musl).
    private func readTable(_ elf: ELFFile, of mapping: MemoryMapping, pid: Int32) -> UnwindTable? {
        guard var table = try? UnwindTable(elf: elf) else { return nil }
        if table.statistics.ehFrameFDEs < UnwindTable.fewFDEs, let path = candidatePaths(of: mapping, pid: pid).first,
           let withDebug = try? UnwindTable.load(path: path, displayPath: mapping.path, root: "\(procRoot)/\(pid)/root") {
            table = withDebug
        }
        return table
    }

    /// Writes a file's rows, new rules and pages, then its entry; nil (nothing kept) when they do not fit.
    private func upload(_ encoded: UnwindTableEncoding, rules: [UnwindTable.Rule], segments: [ELFFile.LoadSegment]) -> LoadedFile? {
        let rowCount = UInt32(encoded.rows.count)
        var pageCount = UInt32(encoded.pages.count)
        let newRules = Set(rules).subtracting(ruleNumbers.keys)
        guard nextRule + UInt32(newRules.count) <= ruleCapacity, let id = fileIDs.allocate(1) else { return nil }
        guard let firstRow = rowSpace.allocate(rowCount) else { fileIDs.release(id, 1); return nil }
        // The page index only narrows searches: without room for it the file's whole range is searched.
        let firstPage: UInt32
        if let pages = pageSpace.allocate(pageCount) {
            firstPage = pages
        } else {
            firstPage = 0
            pageCount = 0
            statistics.filesWithoutPageIndex += 1
        }
        for rule in rules where ruleNumbers[rule] == nil {
            var value = UnwindTableEncoding.bpfRule(rule)
            var index = nextRule
            bpf_map_update_elem(maps.fd(of: "unwind_rules"), &index, &value, UInt64(BPF_ANY))
            ruleNumbers[rule] = nextRule
            nextRule += 1
        }
        let rows = encoded.rows.map { unwind_row(pc_low: $0.pcLow, rule: ruleNumbers[rules[Int($0.rule)]] ?? 0) }
        writeArray(maps.fd(of: "unwind_rows"), from: firstRow, rows)
        if pageCount > 0 { writeArray(maps.fd(of: "unwind_pages"), from: firstPage, encoded.pages) }
        var entry = unwind_file(first_row: firstRow, row_count: rowCount, vaddr_base: encoded.vaddrBase,
                                first_page: firstPage, page_count: pageCount)
        var key = id
        bpf_map_update_elem(maps.fd(of: "unwind_files"), &key, &entry, UInt64(BPF_ANY))
        statistics.files += 1
        statistics.rows += Int(rowCount)
        statistics.pages += Int(pageCount)
        statistics.rules = Int(nextRule) - 1
        statistics.bytes = statistics.rows * MemoryLayout<unwind_row>.size + statistics.pages * 8
            + statistics.rules * MemoryLayout<unwind_rule>.size + statistics.files * MemoryLayout<unwind_file>.size
        return LoadedFile(id: id, firstRow: firstRow, rowCount: rowCount, firstPage: firstPage, pageCount: pageCount, segments: segments)
    }

    /// Drops one use of each file; a file nobody maps loses its table (rules stay: they are shared).
    private func release(_ keys: [FileKey]) {
        for key in keys {
            guard var file = files[key] else { continue }
            file.users -= 1
            guard file.users <= 0 else { files[key] = file; continue }
            var id = file.id
            var empty = unwind_file()
            bpf_map_update_elem(maps.fd(of: "unwind_files"), &id, &empty, UInt64(BPF_ANY))
            rowSpace.release(file.firstRow, file.rowCount)
            pageSpace.release(file.firstPage, file.pageCount)
            fileIDs.release(file.id, 1)
            files[key] = nil
            statistics.files -= 1
            statistics.rows -= Int(file.rowCount)
            statistics.pages -= Int(file.pageCount)
        }
        statistics.bytes = statistics.rows * MemoryLayout<unwind_row>.size + statistics.pages * 8
            + statistics.rules * MemoryLayout<unwind_rule>.size + statistics.files * MemoryLayout<unwind_file>.size
    }

    /// Writes a process's entry; `entries` sorted by start.
    private func write(_ pid: Int32, _ entries: [unwind_mapping]) {
        var process = unwind_process()
        process.count = UInt32(entries.count)
        process.generation = nextGeneration
        nextGeneration = nextGeneration == UInt32.max ? 1 : nextGeneration + 1
        withUnsafeMutableBytes(of: &process.mappings) { raw in
            let slots = raw.bindMemory(to: unwind_mapping.self)
            for (index, entry) in entries.enumerated() where index < slots.count { slots[index] = entry }
        }
        var key = pid
        bpf_map_update_elem(maps.fd(of: "unwind_processes"), &key, &process, UInt64(BPF_ANY))
    }

    /// Writes consecutive array elements from index `first`, batched when the kernel can.
    private func writeArray<Value: BitwiseCopyable>(_ fd: Int32, from first: UInt32, _ values: [Value]) {
        guard !values.isEmpty else { return }
        var keys = (0..<UInt32(values.count)).map { first + $0 }
        var values = values
        var count = UInt32(values.count)
        var options = bpf_map_batch_opts()
        options.sz = MemoryLayout<bpf_map_batch_opts>.size
        if bpf_map_update_batch(fd, &keys, &values, &count, &options) == 0 && count == UInt32(values.count) { return }
        for index in values.indices {
            bpf_map_update_elem(fd, &keys[index], &values[index], UInt64(BPF_ANY))
        }
    }
}

extension UnwindTableLoader {
    /// Describes processes not seen before (all of them, or those of `pids`),
    /// forgets those that exited, and re-reads the mappings of `sampled`
    /// processes (a `dlopen`ed library) at most every `recheckSeconds`.
    func refresh(pids: [Int32], sampled: Set<Int32>, seen: inout Set<Int32>, checked: inout [Int32: UInt64],
                 recheckSeconds: UInt64 = 5) {
        let live = pids.isEmpty ? Set(Self.processIDs(procRoot: procRoot)) : Set(pids)
        for pid in describedProcesses where !live.contains(pid) { forget(pid) }
        seen.formIntersection(live)
        checked = checked.filter { live.contains($0.key) }
        let now = DispatchTime.now().uptimeNanoseconds / 1_000_000_000
        for pid in live.subtracting(seen) {
            seen.insert(pid)
            describe(pid)
            checked[pid] = now
        }
        touch(sampled)
        python.retryPending()
        for pid in sampled where live.contains(pid) && now - (checked[pid] ?? 0) >= recheckSeconds {
            // Over budget: rewritten whatever the digest, so that its files get another chance (evicting colder ones).
            describe(pid, force: isOverBudget(pid))
            checked[pid] = now
        }
    }

    /// The process ids listed in `procRoot`.
    static func processIDs(procRoot: String) -> [Int32] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: procRoot) else { return [] }
        return names.compactMap { Int32($0) }
    }
}
