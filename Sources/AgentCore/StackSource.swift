import Symbolizer

/// One frame as a stack source produced it, before symbolisation.
public enum RawFrame: Sendable, Hashable {
    /// A kernel text address.
    case kernel(UInt64)
    /// A user-space code address. `returnAddress` frames are looked up at
    /// address − 1 (the call, not the instruction after it); the leaf, and a
    /// pc restored from a signal frame, are exact.
    case native(UInt64, returnAddress: Bool)
    /// A frame of an interpreted runtime, named from the process's memory
    /// (user frames list these after the native ones, innermost first).
    case interpreter(InterpreterFrame)
}

/// A frame an interpreter unwinder read from a runtime's own data structures.
public struct InterpreterFrame: Sendable, Hashable {
    /// Which runtime (e.g. CPython), as the unwinder numbers them.
    public var runtime: UInt32
    /// Address of the code object in the process.
    public var code: UInt64
    /// Position within the code (e.g. bytecode offset), for the line.
    public var offset: UInt32
    /// Identifies the code object's contents, so a reused address is not misnamed.
    public var fingerprint: UInt64
    /// The first frame of the next outer activation of the interpreter loop: the
    /// frames before it ran in one native `_PyEval_EvalFrameDefault` call.
    public var startsActivation: Bool

    /// `runtime` of CPython frames.
    public static let cpython: UInt32 = 1

    public init(runtime: UInt32, code: UInt64, offset: UInt32, fingerprint: UInt64, startsActivation: Bool = false) {
        self.runtime = runtime
        self.code = code
        self.offset = offset
        self.fingerprint = fingerprint
        self.startsActivation = startsActivation
    }
}

/// One aggregated raw stack from the kernel, before symbolisation.
public struct RawStack: Sendable, Equatable {
    public var pid: Int32
    public var tid: Int32
    public var comm: String
    /// The traced event the thread was in (0 = none).
    public var spanID: UInt64
    /// Leaf first: kernel frames (when the sample hit the kernel), then user frames.
    public var frames: [RawFrame]
    public var count: UInt64

    public init(pid: Int32, tid: Int32, comm: String, spanID: UInt64, frames: [RawFrame], count: UInt64) {
        self.pid = pid
        self.tid = tid
        self.comm = comm
        self.spanID = spanID
        self.frames = frames
        self.count = count
    }

    /// A stack of frame-pointer addresses as the kernel's stack maps hold them:
    /// kernel then user, each leaf first; user frames after the first are return addresses.
    public init(pid: Int32, tid: Int32, comm: String, spanID: UInt64, user: [UInt64], kernel: [UInt64], count: UInt64) {
        var frames = kernel.map(RawFrame.kernel)
        frames.reserveCapacity(kernel.count + user.count)
        for (index, address) in user.enumerated() { frames.append(.native(address, returnAddress: index > 0)) }
        self.init(pid: pid, tid: tid, comm: comm, spanID: spanID, frames: frames, count: count)
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

/// Where CPU stacks come from: the one seam between sampling and the rest of
/// the agent. The orchestrator holds `any StackSource` and raw frames; it never
/// knows which unwinder (frame pointers, unwind tables, interpreters) made a frame.
public protocol StackSource: AnyObject {
    /// Attaches to the kernel and starts sampling. Throws with nothing left attached.
    func start() throws(AgentError)
    /// Removes and returns everything sampled since the last drain.
    func drain() throws(AgentError) -> [RawStack]
    /// Cumulative counters.
    func statistics() -> SamplingStatistics
    /// The source's programs in the kernel, by name (for their run counters).
    func programs() -> [(name: String, fd: Int32)]
    /// CPUs sampled (0 before `start`).
    var attachedCPUs: Int { get }
    /// How user stacks are unwound, and what that holds and costs.
    func unwindStatus() -> UnwindStatus
    /// Detaches everything. Safe to call more than once.
    func stop()
    /// Hands `observer` a process's mappings whenever the source reads them as the
    /// process starts or maps new code (on the source's own thread), so that a process
    /// exiting before the next drain still symbolises. Call before `start`.
    func observeProcessMaps(_ observer: @escaping @Sendable (Int32, ProcessMaps) -> Void)
}

extension StackSource {
    /// A source that reads no mappings tells nothing.
    public func observeProcessMaps(_ observer: @escaping @Sendable (Int32, ProcessMaps) -> Void) {}
}

/// Kernel-side cost of one BPF program.
public struct BPFProgramStatistics: Sendable, Equatable {
    /// Who loaded it: "cpu" (the sampler) or a tracer's name.
    public var tracer: String
    public var name: String
    public var runCount: UInt64
    public var runTimeNanoseconds: UInt64
}
