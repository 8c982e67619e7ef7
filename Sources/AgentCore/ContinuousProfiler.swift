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
    /// Event tracers to attach (each can be switched off).
    public var tracers: Set<TracerKind> = Set(TracerKind.allCases)
    public var offCPU = OffCPUConfiguration()
    /// Containers with their own `container_id` syscall series (0: none, the default).
    public var syscallContainers = 0
    public init() {}
}

/// The event tracers `run` can attach.
public enum TracerKind: String, Sendable, CaseIterable, Comparable {
    case syscall, offcpu, io, dns, tls
    public static func < (a: TracerKind, b: TracerKind) -> Bool { a.rawValue < b.rawValue }
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
    /// Each requested tracer: how it attached ("tp_btf", "raw_tp") or why it could not.
    public var tracers: [TracerKind: Result<AttachVariant, AgentError>] = [:]
    public var offCPUStatistics = SamplingStatistics()
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
    /// Waiting requests for off-CPU samples (`/debug/pprof/offcpu`).
    public let offCPUHub = SampleHub()
    public let stop = StopSignal()
    private let onWindowClosed: @Sendable (ProfileWindow) -> Void
    private let source: FramePointerStackSource
    private var offCPU: OffCPUSource?
    private let syscalls = Locked<SyscallTracerBox?>(nil)
    private let blockIO = Locked<BlockIOTracerBox?>(nil)
    private let libraryCalls = Locked<[LibraryCallTracerBox]>([])
    /// Call sites of recent DNS/TLS calls (sampling thread only).
    private var callSites = CallSiteTable()
    private let dnsEvents = Locked(DNSEventLog())
    private let containerSyscalls: Locked<ContainerSyscallLatency>
    /// Which container a cgroup id belongs to (sampling thread only).
    private var cgroupContainers = CgroupContainers()
    private let report: @Sendable (String) -> Void
    private let symbolizer: Symbolizer
    private let metadata: ProcessMetadata
    private let state = Locked(ProfilerStatus())
    private let finished = DispatchSemaphore(value: 0)
    private let threadStarted = Locked(false)

    /// Symbol tables of binaries no sample has needed for this long are dropped.
    static let binaryIdleSeconds: UInt64 = 120

    public init(options: ContinuousOptions, store: WindowStore, hub: SampleHub,
                report: @escaping @Sendable (String) -> Void = { _ in },
                onWindowClosed: @escaping @Sendable (ProfileWindow) -> Void) throws(AgentError) {
        self.options = options
        self.report = report
        self.store = store
        self.hub = hub
        self.onWindowClosed = onWindowClosed
        var sampling = options.sampling
        sampling.pids = try Preflight.check(btfPath: sampling.btfPath, pids: sampling.pids)
        Preflight.raiseOpenFileLimit()
        Preflight.limitHeapRetention()
        for (capability, effect) in Privileges.current().missingRecommended() {
            report("profiler-agent: warning: \(capability.name) is missing: \(effect)")
        }
        sampling.programStatistics = true
        source = FramePointerStackSource(configuration: sampling)
        symbolizer = Symbolizer(options: options.symbolizer)
        metadata = try ProcessMetadata(filters: options.filters, procRoot: options.symbolizer.procRoot)
        containerSyscalls = Locked(ContainerSyscallLatency(maxContainers: options.syscallContainers))
    }

    public var status: ProfilerStatus { state.withLock { $0 } }

    /// Attaches the BPF programs. Throws with nothing attached.
    /// A tracer that cannot attach is reported once and left out; the others go on.
    public func attach() throws(AgentError) {
        try source.start()
        let cpus = source.attachedCPUs
        let shared = source.sharedMaps, filter = !source.configuration.pids.isEmpty
        var outcomes: [TracerKind: Result<AttachVariant, AgentError>] = [:]
        for kind in options.tracers.sorted() {
            do {
                switch kind {
                case .syscall:
                    let tracer = SyscallTracer()
                    try tracer.start(shared: shared, filterByPID: filter, processEntries: options.syscallContainers > 0 ? 32768 : 0)
                    syscalls.withLock { $0 = SyscallTracerBox(tracer: tracer) }
                    outcomes[kind] = .success(tracer.variant ?? .tpBTF)
                case .offcpu:
                    let tracer = OffCPUSource(configuration: options.offCPU, shared: shared, filterByPID: filter)
                    try tracer.start()
                    offCPU = tracer
                    outcomes[kind] = .success(tracer.variant ?? .tpBTF)
                case .io:
                    let tracer = BlockIOTracer()
                    try tracer.start(shared: shared, filterByPID: filter)
                    blockIO.withLock { $0 = BlockIOTracerBox(tracer: tracer) }
                    outcomes[kind] = .success(tracer.variant ?? .tpBTF)
                case .dns, .tls:
                    let tracer = LibraryCallTracer(kind: kind == .dns ? .dns : .tls, procRoot: options.symbolizer.procRoot)
                    try tracer.start(shared: shared, filterByPID: filter)
                    for failure in tracer.takeFailures() { report("profiler-agent: \(kind.rawValue): \(failure)") }
                    libraryCalls.withLock { $0.append(LibraryCallTracerBox(tracer: tracer)) }
                    outcomes[kind] = .success(tracer.variant ?? .tpBTF)
                }
            } catch {
                outcomes[kind] = .failure(error)
                report("profiler-agent: tracer \(kind.rawValue) is off: \(error)")
            }
        }
        state.withLock {
            $0.sampling = true
            $0.attachedCPUs = cpus
            $0.tracers = outcomes
        }
    }

    /// The block I/O latency histograms, if that tracer runs.
    public func blockIOLatency() -> [BlockIOSeries]? {
        blockIO.withLock { $0?.tracer.snapshot() }
    }

    /// The syscall latency histograms, if that tracer runs.
    public func syscallLatency() -> SyscallLatencySnapshot? {
        syscalls.withLock { $0?.tracer.snapshot() }
    }

    /// DNS and TLS histograms and counters of the uprobe tracers that run.
    public func libraryCallLatency() -> [LibraryCallSnapshot] {
        libraryCalls.withLock { boxes in
            boxes.map { box in
                let t = box.tracer, c = t.counters()
                return LibraryCallSnapshot(kind: t.kind, rows: Array(zip(t.rowNames, t.histograms())),
                                           libraries: t.attachedLibraries, events: c.events, recordsLost: c.recordsLost,
                                           callSitesSkipped: c.callSitesSkipped)
            }
        }
    }

    /// Per-container syscall histograms (nil unless `syscallContainers` > 0 and the tracer runs),
    /// and how many events the kernel could count only node-wide (per-process map full).
    public func containerSyscallLatency() -> (latency: ContainerSyscallLatency, mapFull: UInt64)? {
        guard options.syscallContainers > 0, let full = syscalls.withLock({ $0?.tracer.processMapFull }) else { return nil }
        return (containerSyscalls.withLock { $0 }, full)
    }

    /// Syscalls the tracer could not time (span map full); nil when it does not run.
    public func syscallSpansFull() -> UInt64? {
        syscalls.withLock { $0?.tracer.spansFull }
    }

    /// The slowest DNS lookups of the last minutes, slowest first.
    public func slowestDNSLookups(limit: Int, since: Double = 0) -> [DNSEvent] {
        dnsEvents.withLock { $0.slowest(limit, since: since) }
    }

    private func detachTracers() {
        libraryCalls.withLock { boxes in
            for box in boxes { box.tracer.stop() }
            boxes.removeAll()
        }
        syscalls.withLock { box in
            box?.tracer.stop()
            box = nil
        }
        blockIO.withLock { box in
            box?.tracer.stop()
            box = nil
        }
        offCPU?.stop()
        offCPU = nil
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
        detachTracers()
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
        var window = SampleAggregator(), offWindow = SampleAggregator()
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
            drain(into: &window, offCPU: &offWindow)
            if tick + interval / 2 >= windowEnd {
                let end = clock()
                close(window, offWindow, start: windowStartWall, durationNanos: end - windowStart)
                window = SampleAggregator()
                offWindow = SampleAggregator()
                windowStart = end
                windowStartWall = Self.wallNanos()
                windowEnd += windowLength
                if windowEnd <= end { windowEnd = end + windowLength }
            }
        }
        drain(into: &window, offCPU: &offWindow)
        close(window, offWindow, start: windowStartWall, durationNanos: clock() - windowStart)
        hub.close()
        offCPUHub.close()
        detachTracers()
        source.stop()
        state.withLock { $0.sampling = false }
    }

    private func drain(into window: inout SampleAggregator, offCPU offWindow: inout SampleAggregator) {
        let samples: [StackSample]
        do {
            // Call sites first: every sample labelled with a span was taken after its call site was sent.
            let events = libraryCallRecords()
            let cpuStacks = try source.drain()
            let offCPUStacks = try offCPU?.drain() ?? []
            let siteStacks = events.callSites.map {
                RawStack(pid: $0.pid, tid: $0.tid, comm: "", spanID: $0.spanID, user: $0.addresses, kernel: [], count: 0)
            }
            // One pass for all kinds: each process's maps are read once per drain.
            let all = StackSymbolization(symbolizer: symbolizer).symbolize(cpuStacks + offCPUStacks + siteStacks)
            let now = UInt64(ProcessInfo.processInfo.systemUptime)
            for site in all.suffix(siteStacks.count) { callSites.insert(span: site.spanID, frames: site.frames, now: now) }
            recordDNSLookups(events.lookups)
            countSyscallsByContainer()
            let symbolized = all.prefix(cpuStacks.count).map(callSites.complete)
            samples = label(metadata.apply(symbolized))
            let filtered = UInt64(max(symbolized.reduce(0) { $0 + $1.count } - samples.reduce(0) { $0 + $1.count }, 0))
            state.withLock { $0.samplesFiltered += filtered }
            if let offCPU {
                let blocked = label(metadata.apply(all[cpuStacks.count..<(cpuStacks.count + offCPUStacks.count)].map(callSites.complete))).map { sample in
                    var sample = sample
                    sample.offCPU = true
                    return sample
                }
                offWindow.add(blocked)
                offCPUHub.publish(blocked)
                let statistics = offCPU.statistics()
                state.withLock { $0.offCPUStatistics = statistics }
            }
        } catch {
            state.withLock {
                $0.drainErrors += 1
                $0.lastError = "\(error)"
            }
            hub.publish([])  // waiting requests still end on time
            offCPUHub.publish([])
            return
        }
        window.add(samples)
        hub.publish(samples)
        let statistics = source.statistics(), programs = source.programStatistics()
        symbolizer.binaries.evict(unusedFor: Self.binaryIdleSeconds)
        let cache = symbolizer.binaries.statistics, tracked = metadata.cachedProcesses
        state.withLock {
            $0.statistics = statistics
            $0.programs = programs
            $0.symbolCache = cache
            $0.trackedProcesses = tracked
        }
    }

    /// Reads the uprobe tracers' records and probes libraries of new processes.
    private func libraryCallRecords() -> (callSites: [CallSite], lookups: [DNSLookup]) {
        var sites: [CallSite] = [], lookups: [DNSLookup] = []
        libraryCalls.withLock { boxes in
            for box in boxes {
                for record in box.tracer.records() {
                    switch record {
                    case .callSite(let site): sites.append(site)
                    case .dnsLookup(let lookup): lookups.append(lookup)
                    }
                }
                box.tracer.rescan()
                for failure in box.tracer.takeFailures() { report("profiler-agent: \(box.tracer.kind.rawValue): \(failure)") }
            }
        }
        return (sites, lookups)
    }

    private func countSyscallsByContainer() {
        guard options.syscallContainers > 0 else { return }
        let counts = syscalls.withLock { $0?.tracer.drainProcessCounts() } ?? []
        guard !counts.isEmpty else { return }
        var names: [Int32: String] = [:]
        for count in counts where names[count.pid] == nil {
            let process = metadata.metadata(of: count.pid)
            if process.cgroupPath.isEmpty {  // exited: its cgroup may still be known
                names[count.pid] = cgroupContainers.container(of: count.cgroupID) ?? ContainerSyscallLatency.unknown
            } else {
                cgroupContainers.learn(cgroup: count.cgroupID, container: process.containerID)
                names[count.pid] = process.containerID
            }
        }
        containerSyscalls.withLock { $0.add(counts) { names[$0.pid] ?? ContainerSyscallLatency.unknown } }
    }

    private func recordDNSLookups(_ lookups: [DNSLookup]) {
        guard !lookups.isEmpty else { return }
        var mono = timespec()
        clock_gettime(CLOCK_MONOTONIC, &mono)
        let now = Date().timeIntervalSince1970
        let monoNow = Double(mono.tv_sec) + Double(mono.tv_nsec) / 1e9
        let events = lookups.map { lookup in
            DNSEvent(lookup: lookup, time: now - (monoNow - Double(lookup.endMonotonicNanoseconds) / 1e9),
                     callers: callSites.frames(of: lookup.spanID).map { Array($0.dropFirst().prefix(8).map(\.function).filter { !$0.hasPrefix("[exited") }) } ?? [])
        }
        dnsEvents.withLock { $0.add(events, now: now) }
    }

    private func label(_ samples: [StackSample]) -> [StackSample] {
        guard !options.nodeName.isEmpty else { return samples }
        return samples.map { sample in
            var sample = sample
            sample.labels["node"] = options.nodeName
            return sample
        }
    }

    private func close(_ window: SampleAggregator, _ offWindow: SampleAggregator, start: Int64, durationNanos: UInt64) {
        let profile = CPUProfile(samples: window.samples, startNanos: start, durationNanos: Int64(durationNanos),
                                 frequency: options.sampling.frequency)
        guard let data = try? PprofWriter().encode(profile) else { return }
        var offData: Data?
        if offCPU != nil {
            offData = try? PprofWriter().encode(CPUProfile(samples: offWindow.samples, startNanos: start, durationNanos: Int64(durationNanos),
                                                           frequency: options.sampling.frequency, kind: .offCPU))
        }
        let spans = (window.samples + offWindow.samples).lazy.map(\.spanID).filter { $0 != 0 }
        let closed = store.add(ProfileWindow(
            id: 0, startNanos: start, endNanos: start + Int64(durationNanos), sampleCount: profile.totalCount,
            stackCount: window.samples.count, pprof: data, offCPUPprof: offData, spanIDs: Set(spans)))
        state.withLock { $0.windowsClosed += 1 }
        onWindowClosed(closed)
    }

    static func wallNanos() -> Int64 { Int64(Date().timeIntervalSince1970 * 1e9) }
}

/// The syscall tracer, locked: HTTP scrapes read it while the loop may stop it.
final class SyscallTracerBox: @unchecked Sendable {
    let tracer: SyscallTracer
    init(tracer: SyscallTracer) { self.tracer = tracer }
}

/// A uprobe tracer, locked like the syscall one.
final class LibraryCallTracerBox: @unchecked Sendable {
    let tracer: LibraryCallTracer
    init(tracer: LibraryCallTracer) { self.tracer = tracer }
}

/// One uprobe tracer's histograms (by row label value) and counters.
public struct LibraryCallSnapshot: Sendable {
    public var kind: LibraryCallTracer.Kind
    public var rows: [(String, LatencyHistogram)]
    public var libraries: Int
    public var events: UInt64
    public var recordsLost: UInt64
    public var callSitesSkipped: UInt64
}

/// The block I/O tracer, locked like the syscall one.
final class BlockIOTracerBox: @unchecked Sendable {
    let tracer: BlockIOTracer
    init(tracer: BlockIOTracer) { self.tracer = tracer }
}
