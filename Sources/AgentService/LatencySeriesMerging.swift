import AgentCore

/// A latency histogram of one label set: what folding series into "other" adds up.
protocol MergeableLatencySeries {
    var buckets: [UInt64] { get set }
    var sumNanoseconds: UInt64 { get set }
    var exemplars: [LatencyExemplar?] { get set }
}

extension MergeableLatencySeries {
    /// Adds `other`'s counts and sum; each bucket keeps the newer exemplar.
    mutating func absorb(_ other: some MergeableLatencySeries) {
        for i in buckets.indices where i < other.buckets.count {
            buckets[i] += other.buckets[i]
            if let e = other.exemplars[i], e.endMonotonicNanoseconds >= exemplars[i]?.endMonotonicNanoseconds ?? 0 {
                exemplars[i] = e
            }
        }
        sumNanoseconds += other.sumNanoseconds
    }
}

extension SyscallLatencySnapshot.Series: MergeableLatencySeries {}
extension ContainerSyscallLatency.Histogram: MergeableLatencySeries {}
extension BlockIOSeries: MergeableLatencySeries {}
