import Symbolizer

/// One aggregated, symbolised stack: a thread seen `count` times with these frames.
public struct StackSample: Sendable, Hashable {
    /// Leaf first: kernel frames (if any), then user frames.
    public var frames: [Frame]
    /// Number of samples.
    public var count: Int64
    public var pid: Int32
    public var tid: Int32
    /// The thread's command name.
    public var comm: String
    /// The traced event the thread was in (0 = none); becomes label `span_id`.
    public var spanID: UInt64
    /// Further string labels (e.g. container_id), kept few and bounded by the caller.
    public var labels: [String: String]
    /// What `count` measures: CPU samples, nanoseconds blocked, or events.
    public var kind: SampleKind = .cpu

    /// An off-CPU stack: `count` is nanoseconds blocked, not samples.
    public var offCPU: Bool {
        get { kind == .offCPU }
        set { kind = newValue ? .offCPU : .cpu }
    }

    public init(frames: [Frame], count: Int64, pid: Int32, tid: Int32, comm: String, spanID: UInt64 = 0, labels: [String: String] = [:]) {
        self.frames = frames
        self.count = count
        self.pid = pid
        self.tid = tid
        self.comm = comm
        self.spanID = spanID
        self.labels = labels
    }
}

/// What one sample's `count` measures.
public enum SampleKind: Sendable, Hashable {
    /// CPU samples at the profile's frequency.
    case cpu
    /// Nanoseconds off CPU (blocked).
    case offCPU
    /// Traced events, each counted once: the stacks a tracer took when the event
    /// became an exemplar (the thread that made the syscall, DNS lookup, TLS call, block I/O request).
    case event
}

/// What the values of a profile measure.
public enum ProfileKind: Sendable {
    /// CPU samples: types samples/count and cpu/nanoseconds.
    case cpu
    /// Off-CPU time: type offcpu/nanoseconds.
    case offCPU
    /// All three (the profile of one span): samples/count, cpu/nanoseconds,
    /// offcpu/nanoseconds, events/count.
    case mixed
}

/// A profile over one time range, ready to encode.
public struct CPUProfile: Sendable {
    public var kind: ProfileKind = .cpu
    public var samples: [StackSample]
    /// Start of the range, nanoseconds since the Unix epoch.
    public var startNanos: Int64
    public var durationNanos: Int64
    /// Sampling frequency in Hz; each sample stands for 1e9/frequency ns of CPU.
    public var frequency: Int

    public init(samples: [StackSample], startNanos: Int64, durationNanos: Int64, frequency: Int, kind: ProfileKind = .cpu) {
        self.kind = kind
        self.samples = samples
        self.startNanos = startNanos
        self.durationNanos = durationNanos
        self.frequency = frequency
    }

    /// Nanoseconds of CPU one sample stands for.
    public var periodNanos: Int64 { 1_000_000_000 / Int64(max(frequency, 1)) }

    /// Total samples.
    public var totalCount: Int64 { samples.reduce(0) { $0 + $1.count } }
}

/// Formats a span id as pprof labels and exemplars carry it: 16 lowercase hex digits.
public func spanIDString(_ id: UInt64) -> String {
    let hex = String(id, radix: 16)
    return String(repeating: "0", count: 16 - hex.count) + hex
}
