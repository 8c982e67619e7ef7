import AgentCore
import Foundation

/// Latency histograms as metric families: classic `le` buckets in seconds, one
/// exemplar (`span_id`) per bucket that has seen events.
struct LatencyMetrics {
    /// Series beyond this many (by event count) are summed into `syscall="other"`.
    let topSyscalls: Int
    /// Lets out only exemplars whose span the agent holds (nil: every BPF exemplar, for unit tests).
    var gate: ExemplarGate? = nil

    /// The syscall numbers with their own series: the `topSyscalls` busiest.
    func namedSyscalls(_ snapshot: SyscallLatencySnapshot) -> Set<Int> {
        Set(snapshot.series.sorted { $0.count > $1.count }.prefix(topSyscalls).map(\.number))
    }

    func syscallFamily(_ snapshot: SyscallLatencySnapshot) -> MetricFamily {
        let ranked = snapshot.series.sorted { $0.count > $1.count }
        var named = Array(ranked.prefix(topSyscalls)).map { (syscallName($0.number), $0) }
        let rest = ranked.dropFirst(topSyscalls)
        if var other = rest.first {
            for series in rest.dropFirst() { other.absorb(series) }
            if let index = named.firstIndex(where: { $0.0 == "other" }) {
                named[index].1.absorb(other)
            } else {
                named.append(("other", other))
            }
        }
        let clock = MonotonicToWall()
        var samples: [MetricSample] = []
        for (name, series) in named.sorted(by: { $0.0 < $1.0 }) {
            samples += histogramSamples(labels: [("syscall", name)], buckets: series.buckets, exemplars: series.exemplars,
                                        sumNanoseconds: series.sumNanoseconds, clock: clock, gate: gate, family: "syscall")
        }
        return MetricFamily(name: "profiler_syscall_latency_seconds",
                            help: "Syscall latency by syscall (the \(topSyscalls) busiest by count, the rest as other); exemplars link to /profiles?span_id=.",
                            kind: .histogram, unit: "seconds", samples: samples)
    }
}

extension LatencyMetrics {
    /// Devices with their own `device` label (the busiest); the rest are device="other".
    static let maximumBlockDevices = 32

    /// Block I/O series with devices beyond `maximumBlockDevices` (fewest requests first) folded into "other".
    static func foldBlockDevices(_ series: [BlockIOSeries]) -> (series: [BlockIOSeries], folded: Int) {
        var requests: [String: UInt64] = [:]
        for s in series { requests[s.device, default: 0] = s.buckets.reduce(requests[s.device] ?? 0) { $0.addingSaturating($1) } }
        guard requests.count > maximumBlockDevices else { return (series, 0) }
        let kept = Set(requests.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.prefix(maximumBlockDevices).map(\.key))
        var result = series.filter { kept.contains($0.device) }
        var other: [String: BlockIOSeries] = [:]
        for var s in series where !kept.contains(s.device) {
            if var total = other[s.operation] {
                total.absorb(s)
                total.bytes &+= s.bytes  // the kernel's u64 byte counters wrap
                other[s.operation] = total
            } else {
                s.device = "other"
                other[s.operation] = s
            }
        }
        result += other.values
        return (result, requests.count - maximumBlockDevices)
    }

    func blockIOFamilies(_ series: [BlockIOSeries]) -> [MetricFamily] {
        let clock = MonotonicToWall()
        var samples: [MetricSample] = [], bytes: [([(String, String)], Double)] = []
        for s in series.sorted(by: { ($0.device, $0.operation) < ($1.device, $1.operation) }) {
            let labels = [("device", s.device), ("op", s.operation)]
            samples += histogramSamples(labels: labels, buckets: s.buckets, exemplars: s.exemplars, sumNanoseconds: s.sumNanoseconds, clock: clock,
                                        gate: gate, family: "io")
            bytes.append((labels, Double(s.bytes)))
        }
        return [
            MetricFamily(name: "profiler_block_io_latency_seconds",
                         help: "Block I/O latency from issue to completion, by device and operation; exemplars: the issuing syscall's span.",
                         kind: .histogram, unit: "seconds", samples: samples),
            .counter("profiler_block_io_bytes", "Bytes completed by block I/O requests, by device and operation.", bytes),
        ]
    }
}

/// The `_bucket` (cumulative, with the exemplar of each bucket that has seen
/// events), `_sum` and `_count` lines of one latency series. With a `gate`,
/// a bucket's exemplar is the one the gate lets out (`family` and the labels name the bucket to it);
/// its labels are `span_id` and, once the agent holds the span, `pid`.
func histogramSamples(labels: [(String, String)], buckets: [UInt64], exemplars: [LatencyExemplar?], sumNanoseconds: UInt64,
                      clock: MonotonicToWall, gate: ExemplarGate? = nil, family: String = "") -> [MetricSample] {
    var samples: [MetricSample] = []
    var cumulative: UInt64 = 0
    let seriesKey = family + labels.map { "\u{1}\($0.0)=\($0.1)" }.joined()
    for (i, bound) in LatencyBuckets.upperBounds.enumerated() where i < buckets.count {
        cumulative = cumulative.addingSaturating(buckets[i])  // a cumulative count must not go back
        var exemplar: Exemplar?
        var candidate = buckets[i] > 0 && i < exemplars.count ? exemplars[i] : nil
        if let gate, buckets[i] > 0 { candidate = gate.admit(candidate, key: seriesKey + "\u{1}\(i)") }
        if let e = candidate {
            var exemplarLabels = ["span_id": String(format: "%016llx", e.spanID)]
            if let pid = e.pid { exemplarLabels["pid"] = String(pid) }
            exemplar = Exemplar(labels: exemplarLabels,
                                value: Double(e.durationNanoseconds) / 1e9, timestamp: clock.wall(e.endMonotonicNanoseconds))
        }
        samples.append(MetricSample(suffix: "_bucket", labels: labels + [("le", bound.isInfinite ? "+Inf" : "\(bound)")],
                                    value: Double(cumulative), exemplar: exemplar))
    }
    samples.append(MetricSample(suffix: "_sum", labels: labels, value: Double(sumNanoseconds) / 1e9))
    samples.append(MetricSample(suffix: "_count", labels: labels, value: Double(cumulative)))
    return samples
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

extension LatencyMetrics {
    /// `profiler_dns_lookup_duration_seconds{result}`, or the TLS operation
    /// histogram and byte counter `{op}`, from one uprobe tracer.
    func libraryCallFamilies(_ snapshot: LibraryCallSnapshot) -> [MetricFamily] {
        let clock = MonotonicToWall()
        switch snapshot.kind {
        case .dns:
            return [MetricFamily(
                name: "profiler_dns_lookup_duration_seconds",
                help: "getaddrinfo duration (glibc, musl) by result; exemplars link to /profiles?span_id=, host names are at /events?type=dns.",
                kind: .histogram, unit: "seconds",
                samples: snapshot.rows.flatMap { result, h in
                    histogramSamples(labels: [("result", result)], buckets: h.buckets, exemplars: h.exemplars, sumNanoseconds: h.sumNanoseconds, clock: clock,
                                     gate: gate, family: "dns")
                })]
        case .tls:
            return [
                MetricFamily(
                    name: "profiler_tls_operation_duration_seconds",
                    help: "OpenSSL SSL_read/SSL_write(_ex)/SSL_do_handshake duration by operation; exemplars link to /profiles?span_id=.",
                    kind: .histogram, unit: "seconds",
                    samples: snapshot.rows.flatMap { op, h in
                        histogramSamples(labels: [("op", op)], buckets: h.buckets, exemplars: h.exemplars, sumNanoseconds: h.sumNanoseconds, clock: clock,
                                         gate: gate, family: "tls")
                    }),
                .counter("profiler_tls_bytes", "Plaintext bytes OpenSSL reported read or written (the data itself is never read).",
                         snapshot.rows.filter { $0.0 != "handshake" }.map { ([("op", $0.0)], Double($0.1.bytes)) }),
            ]
        }
    }
}

extension LatencyMetrics {
    /// `profiler_container_syscall_latency_seconds{container_id, syscall}`: the
    /// node-wide family split by container (opt-in), with the same named syscalls.
    func containerSyscallFamily(_ latency: ContainerSyscallLatency, named: Set<Int>) -> MetricFamily {
        var merged: [String: [String: ContainerSyscallLatency.Histogram]] = [:]
        for (key, histogram) in latency.series {
            let syscall = named.contains(key.number) ? syscallName(key.number) : "other"
            merged[key.container, default: [:]][syscall, default: ContainerSyscallLatency.Histogram()].absorb(histogram)
        }
        let clock = MonotonicToWall()
        var samples: [MetricSample] = []
        for (container, bySyscall) in merged.sorted(by: { $0.key < $1.key }) {
            for (syscall, h) in bySyscall.sorted(by: { $0.key < $1.key }) {
                // Processes outside containers carry no container_id (an empty label is no label).
                let labels = (container.isEmpty ? [] : [("container_id", container)]) + [("syscall", syscall)]
                samples += histogramSamples(labels: labels, buckets: h.buckets, exemplars: h.exemplars, sumNanoseconds: h.sumNanoseconds, clock: clock,
                                            gate: gate, family: "container")
            }
        }
        return MetricFamily(name: "profiler_container_syscall_latency_seconds",
                            help: "Syscall latency by container (the first \(latency.maxContainers) containers seen, later ones as container_id=\"other\") and syscall.",
                            kind: .histogram, unit: "seconds", samples: samples)
    }
}
