import Symbolizer

/// Lets an exemplar out only when its link answers: a bucket's newest exemplar
/// from BPF is exported once the agent holds its span (its event stacks arrive
/// with the next drain, up to a second later); until then, and after that span
/// expired, the bucket's last exported exemplar stands in while it still
/// resolves, else the bucket has none. So `/profiles?span_id=` opens every
/// exemplar a scrape returned, whatever moment it is queried (within retention).
public final class ExemplarGate: Sendable {
    /// What the gate did, cumulative.
    public struct Statistics: Sendable, Equatable {
        /// Exemplars exported as BPF holds them.
        public var current: UInt64 = 0
        /// Newest exemplars held back (span not known yet, or expired); an older one stood in or none.
        public var withheld: UInt64 = 0
        /// Of those, buckets that exported their previous exemplar instead.
        public var stoodIn: UInt64 = 0
    }

    private struct State {
        var exported: [String: LatencyExemplar] = [:]
        /// The newest exemplar seen withheld per bucket: held by a later scrape, it stands in.
        /// (Without it, a bucket whose exemplar changes about as often as the agent drains and
        /// Prometheus scrapes can be withheld at every scrape, in phase, and never export one.)
        var withheld: [String: LatencyExemplar] = [:]
        var statistics = Statistics()
    }

    private let resolves: @Sendable (UInt64) -> Int32?
    private let state = Locked(State())

    /// `resolves`: the process of a span when `/profiles?span_id=` answers for it now, else nil.
    public init(resolves: @escaping @Sendable (UInt64) -> Int32?) { self.resolves = resolves }

    /// The exemplar to export for the bucket named `key` (series labels and
    /// bucket, unique per scrape) whose BPF exemplar is `newest`, with its `pid`.
    public func admit(_ newest: LatencyExemplar?, key: String) -> LatencyExemplar? {
        let newestPID = newest.flatMap { resolves($0.spanID) }
        let earlier = state.withLock { $0.withheld[key] }
        let earlierPID = earlier.flatMap { $0.spanID != newest?.spanID ? resolves($0.spanID) : nil }
        return state.withLock { state in
            if var newest, let newestPID {
                newest.pid = newestPID
                state.exported[key] = newest
                state.withheld[key] = nil
                state.statistics.current += 1
                return newest
            }
            if let newest { state.statistics.withheld += 1 }
            // An exemplar withheld at an earlier scrape whose span is held now: newer than the last exported one.
            if var earlier, let earlierPID {
                earlier.pid = earlierPID
                state.exported[key] = earlier
                state.withheld[key] = newest
                if newest != nil { state.statistics.stoodIn += 1 }
                return earlier
            }
            state.withheld[key] = newest
            guard let previous = state.exported[key] else { return nil }
            guard previous.spanID != newest?.spanID, resolves(previous.spanID) != nil else {
                state.exported[key] = nil
                return nil
            }
            if newest != nil { state.statistics.stoodIn += 1 }
            return previous
        }
    }

    /// Buckets with a remembered exemplar (bounded by the series the metrics export).
    public var count: Int { state.withLock { $0.exported.count } }

    public var statistics: Statistics { state.withLock { $0.statistics } }
}
