/// One aggregated raw stack from the kernel, before symbolisation.
public struct RawStack: Sendable, Equatable {
    public var pid: Int32
    public var tid: Int32
    public var comm: String
    /// The traced event the thread was in (0 = none).
    public var spanID: UInt64
    /// User-space addresses, leaf first (empty for kernel threads).
    public var user: [UInt64]
    /// Kernel addresses, leaf first (empty when the sample hit user mode).
    public var kernel: [UInt64]
    public var count: UInt64

    public init(pid: Int32, tid: Int32, comm: String, spanID: UInt64, user: [UInt64], kernel: [UInt64], count: UInt64) {
        self.pid = pid
        self.tid = tid
        self.comm = comm
        self.spanID = spanID
        self.user = user
        self.kernel = kernel
        self.count = count
    }
}

/// Counters a stack source keeps (cumulative since start).
public struct SamplingStatistics: Sendable, Equatable {
    /// Samples counted.
    public var samples: UInt64 = 0
    /// Samples dropped because the aggregation map was full.
    public var droppedMapFull: UInt64 = 0
    /// Samples whose user stack could not be stored.
    public var userStacksLost: UInt64 = 0
    /// Samples whose kernel stack could not be stored.
    public var kernelStacksLost: UInt64 = 0
    /// Stacks referenced by a count but gone when read.
    public var stacksMissing: UInt64 = 0
    /// Samples skipped in the kernel by the pid / kernel-thread filters.
    public var filteredInKernel: UInt64 = 0
    public init() {}
}

/// Where CPU stacks come from. The seam between sampling and the rest of the
/// agent: today frame pointers walked in BPF (`FramePointerStackSource`); a
/// `.eh_frame`-based unwinder is meant to be a second implementation.
public protocol StackSource: AnyObject {
    /// Attaches to the kernel and starts sampling. Throws with nothing left attached.
    func start() throws(AgentError)
    /// Removes and returns everything sampled since the last drain.
    func drain() throws(AgentError) -> [RawStack]
    /// Cumulative counters.
    func statistics() -> SamplingStatistics
    /// Detaches everything. Safe to call more than once.
    func stop()
}

/// Kernel-side cost of one BPF program.
public struct BPFProgramStatistics: Sendable, Equatable {
    public var name: String
    public var runCount: UInt64
    public var runTimeNanoseconds: UInt64
}
