import Foundation
import Symbolizer

/// The event tracers `run` attaches next to the CPU sampler: syscall, off-CPU,
/// block I/O, DNS and TLS. Each can fail to attach alone (reported once, left
/// out). HTTP scrapes read their histograms while the sampling loop drains them,
/// so each sits behind its own lock.
final class EventTracers: @unchecked Sendable {
    private let syscalls = Locked<SyscallTracerBox?>(nil)
    private let blockIO = Locked<BlockIOTracerBox?>(nil)
    private let libraryCalls = Locked<[LibraryCallTracerBox]>([])
    /// Sampling thread only.
    private(set) var offCPU: OffCPUSource?
    private let report: @Sendable (String) -> Void

    init(report: @escaping @Sendable (String) -> Void) { self.report = report }

    /// Attaches the requested tracers; returns how each attached or why it could not.
    func attach(_ kinds: Set<TracerKind>, context: BPFLoadContext, options: ContinuousOptions) -> [TracerKind: Result<AttachVariant, AgentError>] {
        var outcomes: [TracerKind: Result<AttachVariant, AgentError>] = [:]
        for kind in kinds.sorted() {
            do {
                outcomes[kind] = .success(try attach(kind, context: context, options: options))
            } catch {
                outcomes[kind] = .failure(error)
                report("profiler-agent: tracer \(kind.rawValue) is off: \(error)")
            }
        }
        return outcomes
    }

    private func attach(_ kind: TracerKind, context: BPFLoadContext, options: ContinuousOptions) throws(AgentError) -> AttachVariant {
        switch kind {
        case .syscall:
            let tracer = SyscallTracer()
            try tracer.start(context: context, processEntries: options.syscallContainers > 0 ? 32768 : 0)
            syscalls.withLock { $0 = SyscallTracerBox(tracer: tracer) }
            return tracer.variant ?? .tpBTF
        case .offcpu:
            let tracer = OffCPUSource(configuration: options.offCPU, context: context)
            try tracer.start()
            offCPU = tracer
            return tracer.variant ?? .tpBTF
        case .io:
            let tracer = BlockIOTracer()
            try tracer.start(context: context)
            blockIO.withLock { $0 = BlockIOTracerBox(tracer: tracer) }
            return tracer.variant ?? .tpBTF
        case .dns, .tls:
            let tracer = LibraryCallTracer(kind: kind == .dns ? .dns : .tls, procRoot: options.symbolizer.procRoot)
            try tracer.start(context: context)
            for failure in tracer.takeFailures() { report("profiler-agent: \(kind.rawValue): \(failure)") }
            libraryCalls.withLock { $0.append(LibraryCallTracerBox(tracer: tracer)) }
            return tracer.variant ?? .tpBTF
        }
    }

    /// Detaches every tracer.
    func detach() {
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

    /// The uprobe tracers' records since the last call (call sites, finished DNS
    /// lookups); probes the libraries of new processes on the way.
    func libraryCallRecords() -> (callSites: [CallSite], lookups: [DNSLookup]) {
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

    /// Every attached tracer's programs in the kernel: (tracer, program name, fd).
    func programs() -> [(tracer: String, name: String, fd: Int32)] {
        var all: [(tracer: String, name: String, fd: Int32)] = []
        func add(_ tracer: TracerKind, _ programs: [(name: String, fd: Int32)]) {
            all += programs.map { (tracer.rawValue, $0.name, $0.fd) }
        }
        add(.syscall, syscalls.withLock { $0?.tracer.programs() } ?? [])
        add(.io, blockIO.withLock { $0?.tracer.programs() } ?? [])
        for (kind, programs) in libraryCalls.withLock({ $0.map { ($0.tracer.kind, $0.tracer.programs()) } }) {
            add(kind == .dns ? .dns : .tls, programs)
        }
        add(.offcpu, offCPU?.programs() ?? [])
        return all
    }

    /// Per-process syscall counts since the last call (empty unless per-container series are on).
    func drainProcessSyscallCounts() -> [ProcessSyscallCount] {
        syscalls.withLock { $0?.tracer.drainProcessCounts() } ?? []
    }

    /// The block I/O latency histograms, if that tracer runs.
    func blockIOLatency() -> [BlockIOSeries]? {
        blockIO.withLock { $0?.tracer.snapshot() }
    }

    /// The syscall latency histograms, if that tracer runs.
    func syscallLatency() -> SyscallLatencySnapshot? {
        syscalls.withLock { $0?.tracer.snapshot() }
    }

    /// Events counted only node-wide (per-process map full); nil when the syscall tracer does not run.
    var syscallProcessMapFull: UInt64? { syscalls.withLock { $0?.tracer.processMapFull } }

    /// Syscalls the tracer could not time (span map full); nil when it does not run.
    var syscallSpansFull: UInt64? { syscalls.withLock { $0?.tracer.spansFull } }

    /// DNS and TLS histograms and counters of the uprobe tracers that run.
    func libraryCallLatency() -> [LibraryCallSnapshot] {
        libraryCalls.withLock { boxes in
            boxes.map { box in
                let t = box.tracer, c = t.counters()
                return LibraryCallSnapshot(kind: t.kind, rows: Array(zip(t.rowNames, t.histograms())),
                                           libraries: t.attachedLibraries, events: c.events, recordsLost: c.recordsLost,
                                           callSitesSkipped: c.callSitesSkipped)
            }
        }
    }
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

/// The block I/O tracer, locked like the syscall one.
final class BlockIOTracerBox: @unchecked Sendable {
    let tracer: BlockIOTracer
    init(tracer: BlockIOTracer) { self.tracer = tracer }
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
