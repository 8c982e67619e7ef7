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
    /// The window's CPU and off-CPU samples (`offCPU` set) that carry a span, by
    /// span: a span's profile is a lookup, not a decode of the window.
    public var spanSamples: [UInt64: [StackSample]]

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
        return pprof.count + (offCPUPprof?.count ?? 0) + spanIDs.count * 16 + 96 + spanBytes
    }

    /// Estimated bytes of one kept sample and of each of its frames (names are shared with the symbol caches).
    static let sampleOverhead = 160
    static let frameBytes = 48
}

/// Closed windows kept in memory under a byte budget; the oldest go first.
public final class WindowStore: Sendable {
    private struct State {
        var windows: [ProfileWindow] = []
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

    /// Windows holding samples of `spanID`, oldest first.
    public func windows(withSpan spanID: UInt64) -> [ProfileWindow] {
        state.withLock { $0.windows.filter { $0.spanIDs.contains(spanID) } }
    }

    /// The samples labelled with `spanID` in every retained window, and the
    /// first and last of those windows; nil when no window has any.
    public func samples(ofSpan spanID: UInt64) -> (samples: [StackSample], first: ProfileWindow, last: ProfileWindow)? {
        let windows = windows(withSpan: spanID)
        guard let first = windows.first, let last = windows.last else { return nil }
        return (windows.flatMap { $0.spanSamples[spanID] ?? [] }, first, last)
    }

    public var byteCount: Int { state.withLock { $0.bytes } }
    public var evictedCount: UInt64 { state.withLock { $0.evicted } }
}

import Symbolizer
