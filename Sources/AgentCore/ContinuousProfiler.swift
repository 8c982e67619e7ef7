import Dispatch
import Foundation
import Pprof
import Symbolizer

/// The daemon's data flow, one window after another:
/// attach → drain the stack source and the tracers → symbolise → label and
/// filter → aggregate into the current window and feed waiting requests → at
/// the window's end encode pprof, keep it in the store and hand it to the pusher.
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
    /// Lets out only exemplars whose span this agent holds (`/metrics`).
    public let exemplars: ExemplarGate
    private let onWindowClosed: @Sendable (ProfileWindow, CPUProfile) -> Void
    private let context: BPFLoadContext
    private let source: any StackSource
    private let tracers: EventTracers
    /// The stacks tracers take for events that become exemplars, from the `event_stacks`
    /// ring buffer every tracer writes (sampling thread only).
    private let eventStacks: RingBufferReader<EventStack>
    /// Keeps the kernel's per-program run counters on while the profiler lives.
    private let runStatistics = BPFRunStatistics()
    /// The counters of the last seconds, for `/debug/overhead` (sampling thread writes, HTTP reads).
    private let costs = Locked(ProgramCostHistory())
    /// Call sites of recent DNS/TLS calls (sampling thread only).
    private var callSites = CallSiteTable()
    private let dnsEvents = Locked(DNSEventLog())
    private let containerSyscalls: ContainerSyscallAttribution
    private let symbolization: StackSymbolization
    private let metadata: ProcessMetadata
    private let state = Locked(ProfilerStatus())
    private let finished = DispatchSemaphore(value: 0)
    private let threadStarted = Locked(false)

    /// Symbol tables of binaries no sample has needed for this long are dropped.
    static let binaryIdleSeconds: UInt64 = 120

    public init(options: ContinuousOptions, store: WindowStore, hub: SampleHub,
                report: @escaping @Sendable (String) -> Void = { _ in },
                onWindowClosed: @escaping @Sendable (ProfileWindow, CPUProfile) -> Void) throws(AgentError) {
        self.options = options
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
        let tables = try StackSources.usesUnwindTables(sampling.unwinder, report: report)
        context = BPFLoadContext(maps: try SharedBPFMaps(pids: sampling.pids, unwindTables: tables, tableBytes: sampling.unwindTableBytes),
                                 btfPath: sampling.btfPath, exemplarIntervalNanoseconds: options.exemplarIntervalNanoseconds)
        eventStacks = try RingBufferReader(mapFD: context.maps.fd(of: "event_stacks"), name: "event stack ring buffer", decode: EventStack.init)
        exemplars = ExemplarGate(resolves: { [store] in store.process(ofSpan: $0) })
        source = StackSources.make(sampling, context: context)
        tracers = EventTracers(report: report)
        symbolization = StackSymbolization(symbolizer: Symbolizer(options: options.symbolizer))
        metadata = try ProcessMetadata(filters: options.filters, procRoot: options.symbolizer.procRoot)
        containerSyscalls = ContainerSyscallAttribution(maxContainers: options.syscallContainers)
    }

    public var status: ProfilerStatus { state.withLock { $0 } }

    /// Attaches the BPF programs. Throws with nothing attached.
    /// A tracer that cannot attach is reported once and left out; the others go on.
    public func attach() throws(AgentError) {
        source.observeProcessMaps { [symbolizer = symbolization.symbolizer] in symbolizer.keep($1, of: $0) }
        try source.start()
        let outcomes = tracers.attach(options.tracers, context: context, options: options)
        let cpus = source.attachedCPUs
        state.withLock {
            $0.sampling = true
            $0.attachedCPUs = cpus
            $0.tracers = outcomes
        }
    }

    /// The block I/O latency histograms, if that tracer runs.
    public func blockIOLatency() -> [BlockIOSeries]? { tracers.blockIOLatency() }

    /// The syscall latency histograms, if that tracer runs.
    public func syscallLatency() -> SyscallLatencySnapshot? { tracers.syscallLatency() }

    /// DNS and TLS histograms and counters of the uprobe tracers that run.
    public func libraryCallLatency() -> [LibraryCallSnapshot] { tracers.libraryCallLatency() }

    /// Per-container syscall histograms (nil unless `syscallContainers` > 0 and the tracer runs),
    /// and how many events the kernel could count only node-wide (per-process map full).
    public func containerSyscallLatency() -> (latency: ContainerSyscallLatency, mapFull: UInt64)? {
        guard options.syscallContainers > 0, let full = tracers.syscallProcessMapFull else { return nil }
        return (containerSyscalls.latency.withLock { $0 }, full)
    }

    /// Syscalls the tracer could not time (span map full); nil when it does not run.
    public func syscallSpansFull() -> UInt64? { tracers.syscallSpansFull }

    /// Each tracer's kernel cost over the last seconds (empty when the kernel keeps no BPF stats),
    /// and the seconds that covers.
    public func tracerOverhead() -> (tracers: [TracerOverhead], seconds: Double) {
        costs.withLock { ($0.overhead(), $0.seconds) }
    }

    /// The shared event-stack counters (what the tracers sent for their exemplars).
    public func eventStackStatistics() -> EventStackStatistics {
        EventStackStatistics(fd: context.maps.fd(of: "event_stack_stats"), malformed: state.withLock { $0.eventStacksMalformed })
    }

    /// The DNS lookup of `spanID`, while the lookup log holds it.
    public func dnsLookup(span spanID: UInt64) -> DNSEvent? {
        dnsEvents.withLock { $0.event(span: spanID) }
    }

    /// The slowest DNS lookups of the last minutes, slowest first.
    public func slowestDNSLookups(limit: Int, since: Double = 0) -> [DNSEvent] {
        dnsEvents.withLock { $0.slowest(limit, since: since) }
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
        detach()
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
        var clock = WindowClock(drainInterval: options.drainInterval, window: options.window)
        var window = OpenWindow(startNanos: Self.wallNanos())
        while stop.received == nil {
            switch clock.wait() {
            case .idle: continue
            case .drain:
                drain(into: &window)
            case .drainAndClose:
                drain(into: &window)
                close(window, durationNanos: clock.closeWindow())
                window = OpenWindow(startNanos: Self.wallNanos())
            }
        }
        drain(into: &window)
        close(window, durationNanos: clock.elapsedInWindow())
        hub.close()
        offCPUHub.close()
        detach()
    }

    private func detach() {
        tracers.detach()
        source.stop()
        state.withLock { $0.sampling = false }
    }

    /// One drain: read every map, symbolise in one pass, then hand each kind of stack on.
    private func drain(into window: inout OpenWindow) {
        do {
            // Call sites first: every sample labelled with a span was taken after its call site was sent.
            let calls = tracers.libraryCallRecords()
            let cpuStacks = try source.drain()
            let offCPUStacks = try tracers.offCPU?.drain() ?? []
            let events = eventStacks.read()
            let symbolized = symbolization.symbolize(groups: [cpuStacks, offCPUStacks, calls.callSites.map(\.rawStack), events.map(\.rawStack)])
            let now = UInt64(ProcessInfo.processInfo.systemUptime)
            for site in symbolized[2] { callSites.insert(span: site.spanID, frames: site.frames, now: now) }
            recordDNSLookups(calls.lookups)
            containerSyscalls.add(tracers.drainProcessSyscallCounts(), metadata: metadata)

            let onCPU = prepare(symbolized[0], kind: .cpu)
            window.cpu.add(onCPU)
            hub.publish(onCPU)
            var blocked: [StackSample] = []
            if let offCPU = tracers.offCPU {
                blocked = prepare(symbolized[1], kind: .offCPU)
                window.offCPU.add(blocked)
                offCPUHub.publish(blocked)
                let statistics = offCPU.statistics()
                state.withLock { $0.offCPUStatistics = statistics }
            }
            // An event is known only with its stacks: one the process filters removed is not kept.
            let eventSamples = prepare(symbolized[3], kind: .event)
            let kept = Set(eventSamples.map(\.spanID))
            store.addToOpenWindow(onCPU + blocked + eventSamples, events: events.map(\.event).filter { kept.contains($0.spanID) },
                                  windowStartNanos: window.startNanos)
            let malformed = eventStacks.malformed
            state.withLock { $0.eventStacksMalformed = malformed }
        } catch {
            state.withLock {
                $0.drainErrors += 1
                $0.lastError = "\(error)"
            }
            hub.publish([])  // waiting requests still end on time
            offCPUHub.publish([])
            return
        }
        updateStatus()
    }

    /// Call sites completed, process filters and labels applied; counts what the filters removed.
    private func prepare(_ samples: [StackSample], kind: SampleKind) -> [StackSample] {
        let completed = samples.map(callSites.complete)
        let kept = metadata.apply(completed).map { sample in
            var sample = sample
            if !options.nodeName.isEmpty { sample.labels["node"] = options.nodeName }
            sample.kind = kind
            return sample
        }
        if kind == .cpu {
            let filtered = UInt64(max(completed.reduce(0) { $0 + $1.count } - kept.reduce(0) { $0 + $1.count }, 0))
            state.withLock { $0.samplesFiltered += filtered }
        }
        return kept
    }

    private func updateStatus() {
        let statistics = source.statistics(), unwinding = source.unwindStatus()
        let programs = runStatistics.read(source.programs().map { ("cpu", $0.name, $0.fd) } + tracers.programs())
        let now = ProcessInfo.processInfo.systemUptime
        costs.withLock { $0.record(programs, at: now) }
        let symbolizer = symbolization.symbolizer
        symbolizer.binaries.evict(unusedFor: Self.binaryIdleSeconds)
        let cache = symbolizer.binaries.statistics, tracked = metadata.cachedProcesses
        state.withLock {
            $0.statistics = statistics
            $0.programs = programs
            $0.unwinding = unwinding
            $0.symbolCache = cache
            $0.pythonNames = symbolizer.python.statistics
            $0.perfMaps = symbolizer.perfMaps.statistics
            $0.unnamedFrames = symbolizer.unnamedFrames.snapshot
            $0.trackedProcesses = tracked
        }
    }

    private func recordDNSLookups(_ lookups: [DNSLookup]) {
        guard !lookups.isEmpty else { return }
        let events = DNSEvent.events(lookups, callers: { callSites.frames(of: $0) })
        dnsEvents.withLock { $0.add(events, now: Date().timeIntervalSince1970) }
    }

    private func close(_ window: OpenWindow, durationNanos: UInt64) {
        let profile = CPUProfile(samples: window.cpu.samples, startNanos: window.startNanos, durationNanos: Int64(durationNanos),
                                 frequency: options.sampling.frequency)
        guard let data = try? PprofWriter().encode(profile) else { return }
        var offData: Data?
        if tracers.offCPU != nil {
            offData = try? PprofWriter().encode(CPUProfile(samples: window.offCPU.samples, startNanos: window.startNanos,
                                                           durationNanos: Int64(durationNanos), frequency: options.sampling.frequency, kind: .offCPU))
        }
        // The store moves the open window's span samples and events into it.
        let closed = store.add(ProfileWindow(
            id: 0, startNanos: window.startNanos, endNanos: window.startNanos + Int64(durationNanos), sampleCount: profile.totalCount,
            stackCount: window.cpu.samples.count, pprof: data, offCPUPprof: offData, spanIDs: []))
        state.withLock { $0.windowsClosed += 1 }
        onWindowClosed(closed, profile)
    }

    static func wallNanos() -> Int64 { Int64(Date().timeIntervalSince1970 * 1e9) }
}

/// The samples of the window being filled.
struct OpenWindow {
    /// Start, nanoseconds since the Unix epoch.
    let startNanos: Int64
    var cpu = SampleAggregator()
    var offCPU = SampleAggregator()
}
