/// Why a frame has no function name: each placeholder says it, so a user knows what
/// to fix (ship symbols, grant access, enable a perf map), and
/// `profiler_agent_unnamed_frames_total{reason}` counts them.
public enum UnnamedFrameReason: String, CaseIterable, Sendable {
    /// `[stripped: /usr/bin/x+0x1234]`: the binary was read, no symbol covers the address
    /// (the ELF virtual address, for `symbolize --elf` or addr2line on a debug build).
    case stripped
    /// `[unreadable: /usr/bin/x]`: the mapped binary could not be opened or parsed.
    case unreadable
    /// `[exited]`: the process was gone before its maps were read.
    case exited
    /// `[jit]`: anonymous executable memory and no perf map naming it (`--perf-basic-prof`, …).
    case jit
    /// `[no access]`: the process's maps may not be read (no CAP_SYS_PTRACE over it).
    case noAccess = "no_access"
    /// `[unknown]`: the address lies in no mapping of a live process.
    case unknown
    /// `[kernel.kallsyms]`: a kernel address no kallsyms symbol covers.
    case kernel
    /// `[python code 0x…]`: a Python code object that could not be read.
    case python
}

/// Counts of unnamed frames by reason (shared by every symbolisation pass).
public final class UnnamedFrameCounts: Sendable {
    private let counts = Locked<[UnnamedFrameReason: UInt64]>([:])

    public init() {}

    func count(_ reason: UnnamedFrameReason) { counts.withLock { $0[reason, default: 0] += 1 } }

    /// Frames left unnamed so far, by reason (every reason present, 0 when none).
    public var snapshot: [UnnamedFrameReason: UInt64] {
        let held = counts.withLock { $0 }
        return Dictionary(uniqueKeysWithValues: UnnamedFrameReason.allCases.map { ($0, held[$0] ?? 0) })
    }
}
