#if canImport(Glibc)
import Glibc
#endif

/// Kernel symbols that follow the running kernel: `/proc/kallsyms` is read again when
/// the module list (`/proc/modules`) has changed (looked at no more than once per
/// `checkInterval`), when a lookup finds no symbol (no more than once per
/// `checkInterval`), and after a failed read (retried every `retryInterval`) — so a
/// module loaded after the agent started is named without a restart.
public final class KernelSymbols: Sendable {
    public struct Statistics: Sendable, Equatable {
        /// Reads of kallsyms (the first one included).
        public var loads = 0
        /// Reads that failed.
        public var failures = 0
    }

    private struct State {
        var table: Result<KallsymsTable, SymbolizerError>
        /// `/proc/modules` as it was when the table was read (nil: unreadable, e.g. no modules).
        var modules: [UInt8]?
        var loadedAt: UInt64
        var checkedAt: UInt64
        var statistics: Statistics
    }

    let kallsymsPath: String
    let modulesPath: String
    let checkInterval: UInt64
    let retryInterval: UInt64
    private let state = Locked<State?>(nil)

    /// Intervals in nanoseconds.
    public init(kallsymsPath: String = "/proc/kallsyms", modulesPath: String = "/proc/modules",
                checkInterval: UInt64 = 1_000_000_000, retryInterval: UInt64 = 10_000_000_000) {
        self.kallsymsPath = kallsymsPath
        self.modulesPath = modulesPath
        self.checkInterval = checkInterval
        self.retryInterval = retryInterval
    }

    public var statistics: Statistics { state.withLock { $0?.statistics ?? Statistics() } }

    /// The table, read (or read again) as the rules above say.
    public var table: Result<KallsymsTable, SymbolizerError> {
        state.withLock { state in refreshed(&state, miss: false).table }
    }

    /// Forgets the table: the next use reads kallsyms again.
    public func reload() { state.withLock { $0?.checkedAt = 0; $0?.modules = [0xff] } }

    /// The kernel function containing `address`, nil when there is none even after a re-read.
    public func lookup(_ address: UInt64) -> String? {
        state.withLock { state in
            if case .success(let table) = refreshed(&state, miss: false).table, let name = table.lookup(address) { return name }
            guard case .success(let table) = refreshed(&state, miss: true).table else { return nil }
            return table.lookup(address)
        }
    }

    private func refreshed(_ state: inout State?, miss: Bool) -> State {
        let now = monotonicNanoseconds()
        guard var current = state else {
            let loaded = load(now: now, previous: Statistics())
            state = loaded
            return loaded
        }
        switch current.table {
        case .failure where now &- current.loadedAt >= retryInterval:
            current = load(now: now, previous: current.statistics)
        case .success where now &- current.checkedAt >= checkInterval:
            current.checkedAt = now
            if miss || readWholeFile(modulesPath, limit: 1 << 22) != current.modules {
                current = load(now: now, previous: current.statistics)
            }
        default:
            break
        }
        state = current
        return current
    }

    private func load(now: UInt64, previous: Statistics) -> State {
        var statistics = previous
        statistics.loads += 1
        let modules = readWholeFile(modulesPath, limit: 1 << 22)
        let table: Result<KallsymsTable, SymbolizerError>
        do { table = .success(try KallsymsTable.load(path: kallsymsPath)) } catch {
            table = .failure(error)
            statistics.failures += 1
        }
        return State(table: table, modules: modules, loadedAt: now, checkedAt: now, statistics: statistics)
    }
}

func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
}
