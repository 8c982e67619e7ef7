import CBPF

/// Syscall latency histograms per container, accumulated from the per-process
/// counts the syscall tracer hands over each drain. At most `maxContainers`
/// containers get their own `container_id`; later ones are folded into "other"
/// (and counted), so the label's cardinality stays bounded.
public struct ContainerSyscallLatency: Sendable {
    /// `container_id` of processes outside any container.
    public static let host = ""
    /// `container_id` of processes that exited before their cgroup could be read.
    public static let unknown = "unknown"
    public static let other = "other"

    public struct Key: Hashable, Sendable {
        public var container: String
        public var number: Int
    }

    public struct Histogram: Sendable {
        /// Non-cumulative counts per `LatencyBuckets.upperBounds` bucket.
        public var buckets = [UInt64](repeating: 0, count: Int(LATENCY_BUCKETS))
        public var sumNanoseconds: UInt64 = 0
        public var exemplars = [LatencyExemplar?](repeating: nil, count: Int(LATENCY_BUCKETS))
        public init() {}
    }

    public let maxContainers: Int
    public private(set) var series: [Key: Histogram] = [:]
    private var admitted: Set<String> = []
    private var folded: Set<String> = []
    /// Distinct containers folded into "other" so far (counting stops at 100,000).
    public var foldedContainers: Int { folded.count }

    public init(maxContainers: Int) { self.maxContainers = maxContainers }

    /// Adds one drain's counts; `container` names each count's container.
    /// Counts and sums saturate at `UInt64.max` (they are lifetime counters).
    public mutating func add(_ counts: [ProcessSyscallCount], container: (ProcessSyscallCount) -> String) {
        for count in counts where count.bucket < Int(LATENCY_BUCKETS) {
            let key = Key(container: label(container(count)), number: count.number)
            var histogram = series[key] ?? Histogram()
            // Totals for the agent's lifetime, summed here from per-drain deltas: they must not go back.
            histogram.buckets[count.bucket] = histogram.buckets[count.bucket].addingSaturating(count.count)
            histogram.sumNanoseconds = histogram.sumNanoseconds.addingSaturating(count.sumNanoseconds)
            if let e = count.exemplar, e.endMonotonicNanoseconds >= histogram.exemplars[count.bucket]?.endMonotonicNanoseconds ?? 0 {
                histogram.exemplars[count.bucket] = e
            }
            series[key] = histogram
        }
    }

    /// The label value a container gets: its id while under the cap, else "other".
    mutating func label(_ container: String) -> String {
        if container == Self.host || container == Self.unknown || admitted.contains(container) { return container }
        if admitted.count < maxContainers {
            admitted.insert(container)
            return container
        }
        if folded.count < 100_000 { folded.insert(container) }
        return Self.other
    }
}

/// Remembers which container a cgroup belongs to, so counts of processes that
/// exited before the agent read their cgroup still find their container.
/// A cgroup id seen with two different containers (cgroup v1: every process
/// reports the root's id) is never used.
public struct CgroupContainers: Sendable {
    private var containers: [UInt64: String?] = [:]
    public let capacity: Int

    public init(capacity: Int = 8192) { self.capacity = capacity }

    public mutating func learn(cgroup: UInt64, container: String) {
        if containers.count >= capacity { containers.removeAll(keepingCapacity: true) }
        switch containers[cgroup] {
        case .none: containers[cgroup] = .some(container)
        case .some(.some(let known)) where known != container: containers[cgroup] = .some(nil)
        default: break
        }
    }

    public func container(of cgroup: UInt64) -> String? {
        containers[cgroup] ?? nil
    }
}
