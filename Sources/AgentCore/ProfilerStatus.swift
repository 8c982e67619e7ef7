import Symbolizer

/// What the daemon's sampling loop does.
public struct ContinuousOptions: Sendable {
    public var sampling = SamplingConfiguration()
    /// Seconds per profile window.
    public var window: Double = 10
    /// Seconds between map drains (also how often waiting requests are fed).
    public var drainInterval: Double = 1
    public var filters = ProcessMetadata.Filters()
    /// Value of the `node` label ("" for none).
    public var nodeName = ""
    public var symbolizer = Symbolizer.Options()
    /// Event tracers to attach (each can be switched off).
    public var tracers: Set<TracerKind> = Set(TracerKind.allCases)
    public var offCPU = OffCPUConfiguration()
    /// Containers with their own `container_id` syscall series (0: none, the default).
    public var syscallContainers = 0
    /// How often a latency bucket may take a new exemplar, with the stacks of its
    /// event (nanoseconds; 0: no event stacks, exemplars only where samples carry the span).
    public var exemplarIntervalNanoseconds: UInt64 = 1_000_000_000
    public init() {}
}

/// The event tracers `run` can attach.
public enum TracerKind: String, Sendable, CaseIterable, Comparable {
    case syscall, offcpu, io, dns, tls
    public static func < (a: TracerKind, b: TracerKind) -> Bool { a.rawValue < b.rawValue }
}

/// Counters and state of the sampling loop, read by /metrics and /readyz.
public struct ProfilerStatus: Sendable {
    public var sampling = false
    public var windowsClosed: UInt64 = 0
    public var drainErrors: UInt64 = 0
    public var lastError: String?
    public var statistics = SamplingStatistics()
    public var programs: [BPFProgramStatistics] = []
    public var symbolCache = BinaryCache.Statistics()
    /// Names of Python frames: cache hits, misses, code objects unreadable.
    public var pythonNames = CPythonNames.Statistics()
    /// JIT perf maps: files read, entries held, frames named, lines malformed, maps refused.
    public var perfMaps = PerfMaps.Statistics()
    /// Frames symbolised without a name, by why (each frame of each distinct stack of a window).
    public var unnamedFrames: [UnnamedFrameReason: UInt64] = [:]
    public var samplesFiltered: UInt64 = 0
    /// Event-stack records the agent could not decode.
    public var eventStacksMalformed: UInt64 = 0
    public var trackedProcesses = 0
    public var attachedCPUs = 0
    /// Each requested tracer: how it attached ("tp_btf", "raw_tp") or why it could not.
    public var tracers: [TracerKind: Result<AttachVariant, AgentError>] = [:]
    public var offCPUStatistics = SamplingStatistics()
    /// The user-stack unwinder: mode, counters by reason, tables loaded.
    public var unwinding = UnwindStatus()
}
