import Foundation
import Pprof

/// One closed profiling window: its time range and its encoded (gzipped pprof) profile.
public struct ProfileWindow: Sendable {
    /// Increasing id, unique for this agent's lifetime.
    public var id: UInt64
    /// Start and end, nanoseconds since the Unix epoch.
    public var startNanos: Int64
    public var endNanos: Int64
    public var sampleCount: Int64
    public var stackCount: Int
    /// Gzipped pprof of CPU samples.
    public var pprof: Data
    /// Gzipped pprof of off-CPU time (nil when that tracer is off).
    public var offCPUPprof: Data?
    /// Span ids with samples in this window (for `/profiles?span_id=`).
    public var spanIDs: Set<UInt64>
    /// The window's CPU, off-CPU and event samples (`kind`) that carry a span, by
    /// span: a span's profile is a lookup, not a decode of the window.
    public var spanSamples: [UInt64: [StackSample]]
    /// What the traced events whose stacks arrived in this window were, by span.
    public var spanEvents: [UInt64: SpanEvent] = [:]

    public init(id: UInt64, startNanos: Int64, endNanos: Int64, sampleCount: Int64, stackCount: Int, pprof: Data,
                offCPUPprof: Data? = nil, spanIDs: Set<UInt64>, spanSamples: [UInt64: [StackSample]] = [:]) {
        self.offCPUPprof = offCPUPprof
        self.spanSamples = spanSamples
        self.id = id
        self.startNanos = startNanos
        self.endNanos = endNanos
        self.sampleCount = sampleCount
        self.stackCount = stackCount
        self.pprof = pprof
        self.spanIDs = spanIDs
    }

    /// Memory the window holds, for the retention budget.
    public var byteCount: Int {
        let spanBytes = spanSamples.values.reduce(0) { total, samples in
            total + samples.reduce(0) { $0 + Self.sampleOverhead + $1.frames.count * Self.frameBytes }
        }
        return pprof.count + (offCPUPprof?.count ?? 0) + spanIDs.count * 16 + 96 + spanBytes + spanEvents.count * Self.eventBytes
    }

    /// Estimated bytes of one kept sample and of each of its frames (names are shared with the symbol caches).
    static let sampleOverhead = 160
    static let frameBytes = 48
    /// Estimated bytes of one `SpanEvent`.
    static let eventBytes = 128
}

/// The span samples and events of the window still being filled, searchable
/// before it closes.
struct OpenSpans {
    var startNanos: Int64 = 0
    var samples: [UInt64: [StackSample]] = [:]
    var events: [UInt64: SpanEvent] = [:]

    /// Each span's samples summed (a stack drained twice is one sample).
    func aggregated() -> [UInt64: [StackSample]] {
        samples.mapValues { batch in
            var merged = SampleAggregator()
            merged.add(batch)
            return merged.samples
        }
    }
}

/// Everything the agent holds about one span: what the event was, its stacks,
/// and the time range of the windows they are in.
public struct SpanRecord: Sendable {
    public var samples: [StackSample]
    public var event: SpanEvent?
    /// Start of the first and end of the last window holding it, nanoseconds since the Unix epoch
    /// (the open window ends now).
    public var startNanos: Int64
    public var endNanos: Int64
    /// The retained windows holding it (the open one has no id yet).
    public var windowIDs: [UInt64]
}

/// Closed windows kept in memory under a byte budget; the oldest go first.
public final class WindowStore: Sendable {
    private struct State {
        var windows: [ProfileWindow] = []
        var open = OpenSpans()
        var bytes = 0
        var evicted: UInt64 = 0
        var nextID: UInt64 = 1
    }

    /// Most bytes of windows to keep.
    public let budget: Int
    private let state = Locked(State())

    public init(budget: Int) { self.budget = budget }

    /// Adds a window (its id is assigned here) and evicts the oldest ones over budget.
    /// The newest window is always kept, even when it alone exceeds the budget.
    @discardableResult
    public func add(_ window: ProfileWindow) -> ProfileWindow {
        state.withLock { state in
            var window = window
            window.spanSamples = state.open.aggregated()
            window.spanIDs = Set(window.spanSamples.keys).union(state.open.events.keys)
            window.spanEvents = state.open.events
            state.open = OpenSpans(startNanos: window.endNanos)
            window.id = state.nextID
            state.nextID += 1
            state.windows.append(window)
            state.bytes += window.byteCount
            while state.bytes > budget, state.windows.count > 1 {
                let old = state.windows.removeFirst()
                state.bytes -= old.byteCount
                state.evicted += 1
            }
            return window
        }
    }

    public var windows: [ProfileWindow] { state.withLock { $0.windows } }

    public func window(id: UInt64) -> ProfileWindow? { state.withLock { $0.windows.first { $0.id == id } } }

    /// Adds a drain's span samples and events to the window being filled (which
    /// started at `windowStartNanos`): searchable at once, moved into the window when it closes.
    public func addToOpenWindow(_ samples: [StackSample], events: [SpanEvent], windowStartNanos: Int64) {
        state.withLock { state in
            state.open.startNanos = windowStartNanos
            for sample in samples where sample.spanID != 0 { state.open.samples[sample.spanID, default: []].append(sample) }
            for event in events { state.open.events[event.spanID] = event }
        }
    }

    /// Windows holding samples of `spanID`, oldest first.
    public func windows(withSpan spanID: UInt64) -> [ProfileWindow] {
        state.withLock { $0.windows.filter { $0.spanIDs.contains(spanID) } }
    }

    /// What the agent holds of `spanID` in the retained windows and the one
    /// being filled; nil when none has anything of it.
    public func span(_ spanID: UInt64) -> SpanRecord? {
        state.withLock { state in
            let windows = state.windows.filter { $0.spanIDs.contains(spanID) }
            var samples = windows.flatMap { $0.spanSamples[spanID] ?? [] }
            var event = windows.lazy.compactMap { $0.spanEvents[spanID] }.first
            let open = state.open.samples[spanID], openEvent = state.open.events[spanID]
            samples += open ?? []
            event = event ?? openEvent
            guard !samples.isEmpty || event != nil else { return nil }
            let inOpen = open != nil || openEvent != nil
            let start = windows.first?.startNanos ?? state.open.startNanos
            let end = inOpen ? Int64(Date().timeIntervalSince1970 * 1e9) : (windows.last?.endNanos ?? start)
            return SpanRecord(samples: samples, event: event, startNanos: start, endNanos: end, windowIDs: windows.map(\.id))
        }
    }

    /// The process of `spanID` when `/profiles?span_id=` answers for it now
    /// (its event's, else its first sample's); nil when it does not.
    public func process(ofSpan spanID: UInt64) -> Int32? {
        state.withLock { state in
            if let event = state.open.events[spanID] { return event.pid }
            if let sample = state.open.samples[spanID]?.first { return sample.pid }
            for window in state.windows.reversed() where window.spanIDs.contains(spanID) {
                if let event = window.spanEvents[spanID] { return event.pid }
                if let sample = window.spanSamples[spanID]?.first { return sample.pid }
            }
            return nil
        }
    }

    public var byteCount: Int { state.withLock { $0.bytes } }
    public var evictedCount: UInt64 { state.withLock { $0.evicted } }
}

import Symbolizer
