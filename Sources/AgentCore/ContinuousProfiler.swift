import Dispatch
import Foundation
import Pprof
import Symbolizer

/// What the daemon's sampling loop does.
public struct ContinuousOptions: Sendable {
    public var sampling = SamplingConfiguration()
    /// Seconds per profile window.
    public var window: Double = 10
    /// Seconds between map drains (also how often waiting requests are fed).
    public var drainInterval: Double = 1
    public var filters = ProcessMetadata.Filters()
    /// Value of the `node` label ("" for none).
    public var nodeName = ""
    public var symbolizer = Symbolizer.Options()
    public init() {}
}

/// Counters and state of the sampling loop, read by /metrics and /readyz.
public struct ProfilerStatus: Sendable {
    public var sampling = false
    public var windowsClosed: UInt64 = 0
    public var drainErrors: UInt64 = 0
    public var lastError: String?
    public var statistics = SamplingStatistics()
    public var programs: [BPFProgramStatistics] = []
    public var symbolCache = BinaryCache.Statistics()
    public var samplesFiltered: UInt64 = 0
    public var trackedProcesses = 0
    public var attachedCPUs = 0
}

/// The daemon's data flow, one window after another:
/// drain the stack source → symbolise → label and filter → aggregate into the
/// current window and feed waiting requests → at the window's end encode pprof,
/// keep it in the store and hand it to the pusher.
///
/// `run()` occupies a dedicated thread and never waits on the network. Its
/// mutable state is confined to that thread; what others read is in `status`.
public final class ContinuousProfiler: @unchecked Sendable {
    public let options: ContinuousOptions
    public let store: WindowStore
    public let hub: SampleHub
    public let stop = StopSignal()
    private let onWindowClosed: @Sendable (ProfileWindow) -> Void
    private let source: FramePointerStackSource
    private let symbolizer: Symbolizer
    private let metadata: ProcessMetadata
    private let state = Locked(ProfilerStatus())
    private let finished = DispatchSemaphore(value: 0)
    private let threadStarted = Locked(false)

    public init(options: ContinuousOptions, store: WindowStore, hub: SampleHub,
                onWindowClosed: @escaping @Sendable (ProfileWindow) -> Void) throws(AgentError) {
        self.options = options
        self.store = store
        self.hub = hub
        self.onWindowClosed = onWindowClosed
        var sampling = options.sampling
        sampling.pids = try Preflight.check(btfPath: sampling.btfPath, pids: sampling.pids)
        sampling.programStatistics = true
        source = FramePointerStackSource(configuration: sampling)
        symbolizer = Symbolizer(options: options.symbolizer)
        metadata = try ProcessMetadata(filters: options.filters, procRoot: options.symbolizer.procRoot)
    }

    public var status: ProfilerStatus { state.withLock { $0 } }

    /// Attaches the BPF programs. Throws with nothing attached.
    public func attach() throws(AgentError) {
        try source.start()
        let cpus = source.attachedCPUs
        state.withLock {
            $0.sampling = true
            $0.attachedCPUs = cpus
        }
    }

    /// Starts `run()` on its own thread.
    public func startThread() {
        threadStarted.withLock { $0 = true }
        let thread = Thread { [self] in
            run()
            finished.signal()
        }
        thread.name = "sampling"
        thread.start()
    }

    /// Detaches when the loop never ran (e.g. the HTTP port was taken).
    public func detachIfNeverStarted() {
        guard !threadStarted.withLock({ $0 }) else { return }
        source.stop()
        state.withLock { $0.sampling = false }
    }

    /// Asks the loop to finish (closing the current window) and waits for it.
    public func shutdown() async {
        guard threadStarted.withLock({ $0 }) else { return detachIfNeverStarted() }
        stop.request()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async { [finished] in
                finished.wait()
                finished.signal()  // later callers return at once
                continuation.resume()
            }
        }
    }

    /// The sampling loop; returns after `stop` is raised, with everything detached.
    public func run() {
        let clock = { DispatchTime.now().uptimeNanoseconds }
        let interval = UInt64(min(options.drainInterval, options.window) * 1e9)
        let windowLength = UInt64(options.window * 1e9)
        var windowStart = clock()
        var windowStartWall = Self.wallNanos()
        var window = SampleAggregator()
        // Drains and window ends are scheduled on one clock, so a window ends on
        // the drain tick at (or just past) its deadline, not one tick late.
        var nextDrain = windowStart + interval
        var windowEnd = windowStart + windowLength
        while stop.received == nil {
            let now = clock()
            if now < nextDrain {
                Thread.sleep(forTimeInterval: min(0.05, Double(nextDrain - now) / 1e9))
                continue
            }
            let tick = nextDrain
            nextDrain += interval
            if nextDrain <= clock() { nextDrain = clock() + interval }  // fell behind: skip missed ticks
            drain(into: &window)
            if tick + interval / 2 >= windowEnd {
                let end = clock()
                close(window, start: windowStartWall, durationNanos: end - windowStart)
                window = SampleAggregator()
                windowStart = end
                windowStartWall = Self.wallNanos()
                windowEnd += windowLength
                if windowEnd <= end { windowEnd = end + windowLength }
            }
        }
        drain(into: &window)
        close(window, start: windowStartWall, durationNanos: clock() - windowStart)
        hub.close()
        source.stop()
        state.withLock { $0.sampling = false }
    }

    private func drain(into window: inout SampleAggregator) {
        let samples: [StackSample]
        do {
            let raw = try source.drain()
            let symbolized = StackSymbolization(symbolizer: symbolizer).symbolize(raw)
            samples = label(metadata.apply(symbolized))
            let filtered = UInt64(symbolized.count - samples.count)
            state.withLock { $0.samplesFiltered += filtered }
        } catch {
            state.withLock {
                $0.drainErrors += 1
                $0.lastError = "\(error)"
            }
            return
        }
        window.add(samples)
        hub.publish(samples)
        let statistics = source.statistics(), programs = source.programStatistics()
        let cache = symbolizer.binaries.statistics, tracked = metadata.cachedProcesses
        state.withLock {
            $0.statistics = statistics
            $0.programs = programs
            $0.symbolCache = cache
            $0.trackedProcesses = tracked
        }
    }

    private func label(_ samples: [StackSample]) -> [StackSample] {
        guard !options.nodeName.isEmpty else { return samples }
        return samples.map { sample in
            var sample = sample
            sample.labels["node"] = options.nodeName
            return sample
        }
    }

    private func close(_ window: SampleAggregator, start: Int64, durationNanos: UInt64) {
        let profile = CPUProfile(samples: window.samples, startNanos: start, durationNanos: Int64(durationNanos),
                                 frequency: options.sampling.frequency)
        guard let data = try? PprofWriter().encode(profile) else { return }
        let closed = store.add(ProfileWindow(
            id: 0, startNanos: start, endNanos: start + Int64(durationNanos), sampleCount: profile.totalCount,
            stackCount: window.samples.count, pprof: data,
            spanIDs: Set(window.samples.lazy.map(\.spanID).filter { $0 != 0 })))
        state.withLock { $0.windowsClosed += 1 }
        onWindowClosed(closed)
    }

    static func wallNanos() -> Int64 { Int64(Date().timeIntervalSince1970 * 1e9) }
}
