import AgentCore

/// A latency histogram of one label set: what folding series into "other" adds up.
protocol MergeableLatencySeries {
    var buckets: [UInt64] { get set }
    var sumNanoseconds: UInt64 { get set }
    var exemplars: [LatencyExemplar?] { get set }
    /// Whether counts and sum are the kernel's own `u64` counters, which wrap
    /// (then merged values wrap too); otherwise they are totals the agent keeps,
    /// which must not go back (merged values saturate).
    static var wrapsLikeTheKernel: Bool { get }
}

extension MergeableLatencySeries {
    /// Adds `other`'s counts and sum; each bucket keeps the newer exemplar.
    mutating func absorb(_ other: some MergeableLatencySeries) {
        for i in buckets.indices where i < other.buckets.count {
            buckets[i] = Self.add(buckets[i], other.buckets[i])
            if i < other.exemplars.count, i < exemplars.count, let e = other.exemplars[i],
               e.endMonotonicNanoseconds >= exemplars[i]?.endMonotonicNanoseconds ?? 0 {
                exemplars[i] = e
            }
        }
        sumNanoseconds = Self.add(sumNanoseconds, other.sumNanoseconds)
    }

    static func add(_ a: UInt64, _ b: UInt64) -> UInt64 {
        wrapsLikeTheKernel ? a &+ b : a.addingSaturating(b)
    }
}

extension SyscallLatencySnapshot.Series: MergeableLatencySeries {
    static var wrapsLikeTheKernel: Bool { true }
}
extension BlockIOSeries: MergeableLatencySeries {
    static var wrapsLikeTheKernel: Bool { true }
}
extension ContainerSyscallLatency.Histogram: MergeableLatencySeries {
    static var wrapsLikeTheKernel: Bool { false }
}
