import AgentCore
import Foundation

/// Latency histograms as metric families: classic `le` buckets in seconds, one
/// exemplar (`span_id`) per bucket that has seen events.
struct LatencyMetrics {
    /// Series beyond this many (by event count) are summed into `syscall="other"`.
    let topSyscalls: Int

    func syscallFamily(_ snapshot: SyscallLatencySnapshot) -> MetricFamily {
        let ranked = snapshot.series.sorted { $0.count > $1.count }
        var named = Array(ranked.prefix(topSyscalls)).map { (syscallName($0.number), $0) }
        let rest = ranked.dropFirst(topSyscalls)
        if let first = rest.first {
            var other = first
            for series in rest.dropFirst() {
                for i in other.buckets.indices {
                    other.buckets[i] += series.buckets[i]
                    if let e = series.exemplars[i], e.endMonotonicNanoseconds > (other.exemplars[i]?.endMonotonicNanoseconds ?? 0) {
                        other.exemplars[i] = e
                    }
                }
                other.sumNanoseconds += series.sumNanoseconds
            }
            if let index = named.firstIndex(where: { $0.0 == "other" }) {
                for i in other.buckets.indices { named[index].1.buckets[i] += other.buckets[i] }
                named[index].1.sumNanoseconds += other.sumNanoseconds
            } else {
                named.append(("other", other))
            }
        }
        let clock = MonotonicToWall()
        var samples: [MetricSample] = []
        for (name, series) in named.sorted(by: { $0.0 < $1.0 }) {
            var cumulative: UInt64 = 0
            for (i, bound) in LatencyBuckets.upperBounds.enumerated() {
                cumulative += series.buckets[i]
                var exemplar: Exemplar?
                if series.buckets[i] > 0, let e = series.exemplars[i] {
                    exemplar = Exemplar(labels: ["span_id": String(format: "%016llx", e.spanID)],
                                        value: Double(e.durationNanoseconds) / 1e9, timestamp: clock.wall(e.endMonotonicNanoseconds))
                }
                samples.append(MetricSample(suffix: "_bucket", labels: [("syscall", name), ("le", bound.isInfinite ? "+Inf" : "\(bound)")],
                                            value: Double(cumulative), exemplar: exemplar))
            }
            samples.append(MetricSample(suffix: "_sum", labels: [("syscall", name)], value: Double(series.sumNanoseconds) / 1e9))
            samples.append(MetricSample(suffix: "_count", labels: [("syscall", name)], value: Double(cumulative)))
        }
        return MetricFamily(name: "profiler_syscall_latency_seconds",
                            help: "Syscall latency by syscall (the \(topSyscalls) busiest by count, the rest as other); exemplars link to /profiles?span_id=.",
                            kind: .histogram, unit: "seconds", samples: samples)
    }
}

/// Converts CLOCK_MONOTONIC nanoseconds (BPF time) to Unix seconds.
struct MonotonicToWall {
    let offset: Double

    init() {
        var mono = timespec(), real = timespec()
        clock_gettime(CLOCK_MONOTONIC, &mono)
        clock_gettime(CLOCK_REALTIME, &real)
        offset = (Double(real.tv_sec) + Double(real.tv_nsec) / 1e9) - (Double(mono.tv_sec) + Double(mono.tv_nsec) / 1e9)
    }

    func wall(_ monotonicNanoseconds: UInt64) -> Double { Double(monotonicNanoseconds) / 1e9 + offset }
}
