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
        return state.withLock { state in
            if var newest, let newestPID {
                newest.pid = newestPID
                state.exported[key] = newest
                state.statistics.current += 1
                return newest
            }
            if newest != nil { state.statistics.withheld += 1 }
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
