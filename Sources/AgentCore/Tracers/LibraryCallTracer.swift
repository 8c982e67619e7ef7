import CBPF
import Foundation
import Symbolizer

/// Traces calls into a shared library with uprobes (`bpf/dns.bpf.c`,
/// `bpf/tls.bpf.c`): finds the library in every process (containers included),
/// attaches once per library file, and picks up new files (new container images)
/// on each `rescan()`. Each call opens an event span, counts in a latency
/// histogram row, and sends its call site so the agent can complete stacks.
public final class LibraryCallTracer {
    public enum Kind: String, Sendable {
        /// getaddrinfo in glibc / musl: rows ok, error.
        case dns
        /// OpenSSL SSL_read/SSL_write(_ex), SSL_do_handshake/SSL_connect/SSL_accept: rows read, write, handshake.
        case tls
    }

    public let kind: Kind
    private var loaded: (any LoadedBPFObject)?
    private var libraries: [String: UprobeLinks] = [:]
    private var refused: Set<String> = []
    private var failures: [String] = []
    private var reader: RingBufferReader<EventRecord>?
    private let scanner: LibraryScanner
    /// How the thread-exit cleanup attached (tp_btf or raw_tp).
    private var exitVariant: AttachVariant?
    private(set) var mode = UprobeMode.perEvent

    /// How the library functions are probed once started: `.uprobeMulti` or `.uprobe` (per event).
    public var variant: AttachVariant? {
        guard exitVariant != nil else { return nil }
        return mode == .multi ? .uprobeMulti : .uprobe
    }

    public init(kind: Kind, procRoot: String = "/proc") {
        self.kind = kind
        let matches: (String) -> Bool = kind == .dns ? { LibraryScanner.isLibc($0) } : { LibraryScanner.isLibSSL($0) }
        scanner = LibraryScanner(procRoot: procRoot, matches: matches)
    }

    deinit { stop() }

    /// The entry and return programs, and the functions they probe (cookie: the TLS operation).
    var probes: (entry: String, exit: String, functions: [ProbedFunction]) {
        switch kind {
        case .dns:
            ("dns_getaddrinfo_enter", "dns_getaddrinfo_exit", [ProbedFunction(name: "getaddrinfo", cookie: 0)])
        case .tls:
            ("tls_enter", "tls_exit", [
                ("SSL_read", UInt64(TLS_READ.rawValue)), ("SSL_read_ex", UInt64(TLS_READ.rawValue) | UInt64(TLS_COOKIE_EX)),
                ("SSL_write", UInt64(TLS_WRITE.rawValue)), ("SSL_write_ex", UInt64(TLS_WRITE.rawValue) | UInt64(TLS_COOKIE_EX)),
                ("SSL_do_handshake", UInt64(TLS_HANDSHAKE.rawValue)),
                // They call SSL_do_handshake, which may be inlined into them; when it is
                // not, the inner call replaces the outer one and the handshake counts once.
                ("SSL_connect", UInt64(TLS_HANDSHAKE.rawValue)), ("SSL_accept", UInt64(TLS_HANDSHAKE.rawValue)),
            ].map { ProbedFunction(name: $0.0, cookie: $0.1) })
        }
    }

    /// Histogram rows and their label values.
    public var rowNames: [String] { kind == .dns ? ["ok", "error"] : ["read", "write", "handshake"] }

    /// Loads the programs (sharing the span and pid-filter maps of `context`),
    /// attaches the thread-exit cleanup and probes every library found now.
    /// The programs in the kernel, by name.
    func programs() -> [(name: String, fd: Int32)] { loaded.map { loadedPrograms($0.object) } ?? [] }

    public func start(context: BPFLoadContext) throws(AgentError) {
        // The TLS probes tell SSL_read, SSL_write and the handshake apart by their BPF cookie.
        if kind == .tls && libbpf_probe_bpf_helper(BPF_PROG_TYPE_KPROBE, BPF_FUNC_get_attach_cookie, nil) != 1 {
            throw .attachFailed(program: "tls", reason: "this kernel has no bpf_get_attach_cookie (Linux 5.15+), which the TLS uprobes need")
        }
        var lastError = AgentError.attachFailed(program: kind.rawValue, reason: "not attempted")
        for candidate in UprobeMode.preferred {
            do {
                exitVariant = try attachPreferringBTF(load: { (v: AttachVariant) throws(AgentError) in
                    try load(v, mode: candidate, context: context)
                }, stop: stop)
                mode = candidate
                rescan()
                return
            } catch {
                lastError = error
            }
        }
        throw lastError
    }

    private func load(_ variant: AttachVariant, mode: UprobeMode, context: BPFLoadContext) throws(AgentError) {
        let label = "\(kind.rawValue) (\(variant.rawValue))", filter = context.maps.filterByPID, unwinder = context.unwinderKind
        let features = context.unwindFeatures, exemplarInterval = context.exemplarIntervalNanoseconds
        let (btfExit, rawExit) = ("events_task_exit_btf", "events_task_exit_raw")
        let probes = probes
        // Uprobes are attached per library in `rescan`, not here.
        func configure(_ object: OpaquePointer?) {
            disableAutoload(object, programs: [variant == .tpBTF ? rawExit : btfExit])
            if let type = mode.expectedAttachType {
                for name in [probes.entry, probes.exit] { bpf_program__set_expected_attach_type(bpf_object__find_program_by_name(object, name), type) }
            }
        }
        let object: any LoadedBPFObject
        switch kind {
        case .dns:
            object = try BPFSkeleton(.dns, label: label, context: context) { opened in
                opened.pointee.rodata.pointee.unwinder = unwinder
                opened.pointee.rodata.pointee.unwind_features = features
                opened.pointee.rodata.pointee.filter_by_pid = filter
                opened.pointee.rodata.pointee.span_salt = spanSalt()
                opened.pointee.rodata.pointee.exemplar_interval_ns = exemplarInterval
                configure(opened.pointee.obj)
            }
        case .tls:
            object = try BPFSkeleton(.tls, label: label, context: context) { opened in
                opened.pointee.rodata.pointee.unwinder = unwinder
                opened.pointee.rodata.pointee.unwind_features = features
                opened.pointee.rodata.pointee.filter_by_pid = filter
                opened.pointee.rodata.pointee.span_salt = spanSalt()
                opened.pointee.rodata.pointee.exemplar_interval_ns = exemplarInterval
                configure(opened.pointee.obj)
            }
        }
        try object.attach([btfExit, rawExit])
        reader = try RingBufferReader(mapFD: object.mapFD("event_records"), name: "event ring buffer", decode: EventRecord.init)
        loaded = object
    }

    private func program(_ name: String) -> OpaquePointer? { loaded?.program(name) }

    private func mapFD(_ name: String) -> Int32 { loaded?.mapFD(name) ?? -1 }

    /// Probes libraries of processes started since the last scan; returns how
    /// many library files were newly attached.
    @discardableResult
    public func rescan() -> Int {
        guard loaded != nil else { return 0 }
        var attached = 0
        for library in scanner.scanNewProcesses() {
            let key = "\(library.device):\(library.inode)"
            guard libraries[key] == nil, !refused.contains(key) else { continue }
            var links: UprobeLinks?, refusal: String?, unopened: ELFError?
            for candidate in library.candidates where links == nil && refusal == nil {
                // Only the mapped file itself (device and inode), never what a container put at its path.
                switch candidate.open(library.mapping) {
                case .failure(let error):
                    // The process exited meanwhile, or the path is another file now: try the next.
                    unopened = error
                case .success(let file):
                    do {
                        links = try UprobeLinks(file: file, functions: probes.functions, entry: program(probes.entry), exit: program(probes.exit), mode: mode)
                    } catch {
                        // A file that is there but cannot be probed (no such function) is not retried.
                        refusal = "\(file.path): \(error)"
                    }
                }
            }
            guard let links else {
                if let refusal {
                    refused.insert(key)
                    failures.append("cannot probe \(library.path) (\(refusal))")
                } else if let unopened {
                    failures.append("cannot probe \(library.path) (\(unopened))")
                }
                continue
            }
            libraries[key] = links
            attached += 1
        }
        return attached
    }

    /// Libraries that could not be probed since the last call, one line each.
    public func takeFailures() -> [String] {
        defer { failures.removeAll() }
        return failures
    }

    /// Library files probed so far.
    public var attachedLibraries: Int { libraries.count }

    /// Records sent since the last call (call sites, finished DNS lookups).
    public func records() -> [EventRecord] { reader?.read() ?? [] }

    /// The histogram of each row (`rowNames`), cumulative since start.
    public func histograms() -> [LatencyHistogram] {
        guard loaded != nil else { return [] }
        let rows = readArrayMap(mapFD("event_hist"), count: Int(EVENT_ROWS), zero: latency_histogram())
        return rows.prefix(rowNames.count).map(LatencyHistogram.init)
    }

    /// (events measured, records lost to a full ring buffer, call sites over the rate).
    public func counters() -> (events: UInt64, recordsLost: UInt64, callSitesSkipped: UInt64) {
        guard loaded != nil else { return (0, 0, 0) }
        let stats = StackCountMaps.perCPUCounters(mapFD("event_stats"), count: Int(EVENT_STAT_COUNT.rawValue))
        return (stats[Int(EVENT_STAT_EVENTS.rawValue)], stats[Int(EVENT_STAT_RECORDS_LOST.rawValue)],
                stats[Int(EVENT_STAT_CALL_SITES_SKIPPED.rawValue)])
    }

    public func stop() {
        reader?.close()
        reader = nil
        for key in libraries.keys { libraries[key]?.detach() }
        libraries.removeAll()
        loaded = nil
    }
}

/// One latency histogram as the BPF side keeps it (`struct latency_histogram`).
public struct LatencyHistogram: Sendable {
    /// Non-cumulative counts per `LatencyBuckets.upperBounds` bucket.
    public var buckets: [UInt64]
    public var sumNanoseconds: UInt64
    public var bytes: UInt64
    public var exemplars: [LatencyExemplar?]

    init(_ value: latency_histogram) {
        buckets = withUnsafeBytes(of: value.buckets) { Array($0.bindMemory(to: UInt64.self)) }
        sumNanoseconds = value.sum_ns
        bytes = value.bytes
        exemplars = withUnsafeBytes(of: value.exemplars) { raw in
            raw.bindMemory(to: latency_exemplar.self).map(LatencyExemplar.init)
        }
    }
}
