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
    private var dns: UnsafeMutablePointer<dns_bpf>?
    private var tls: UnsafeMutablePointer<tls_bpf>?
    private var object: OpaquePointer?
    private var exitLinks: [OpaquePointer] = []
    private var libraries: [String: UprobeLinks] = [:]
    private var refused: Set<String> = []
    private var failures: [String] = []
    private var reader: EventRecordReader?
    private let scanner: LibraryScanner
    public private(set) var variant: AttachVariant?
    private(set) var mode = UprobeMode.perEvent

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

    /// Loads the programs (sharing the sampler's span and pid-filter maps),
    /// attaches the thread-exit cleanup and probes every library found now.
    public func start(shared: SharedSpanMaps, filterByPID: Bool) throws(AgentError) {
        var lastError = AgentError.attachFailed(program: kind.rawValue, reason: "not attempted")
        for candidate in UprobeMode.preferred {
            do {
                variant = try attachPreferringBTF(load: { (v: AttachVariant) throws(AgentError) in
                    try load(v, mode: candidate, shared: shared, filterByPID: filterByPID)
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

    private func load(_ variant: AttachVariant, mode: UprobeMode, shared: SharedSpanMaps, filterByPID: Bool) throws(AgentError) {
        BPFLog.clear()
        let name = "\(kind.rawValue)"
        // The two skeleton types differ only in name: set their read-only data, then work by name.
        switch kind {
        case .dns:
            dns = dns_bpf__open()
            object = dns?.pointee.obj
            dns?.pointee.rodata.pointee.filter_by_pid = filterByPID
            dns?.pointee.rodata.pointee.span_salt = spanSalt()
        case .tls:
            tls = tls_bpf__open()
            object = tls?.pointee.obj
            tls?.pointee.rodata.pointee.filter_by_pid = filterByPID
            tls?.pointee.rodata.pointee.span_salt = spanSalt()
        }
        guard object != nil else { throw .bpfLoadFailed(object: name, reason: errnoText(errno), verifierLog: BPFLog.tail()) }
        try shared.adopt(targetPIDs: map("target_pids"), syscallSpans: map("syscall_spans"), eventSpans: map("event_spans"), object: name)
        let btfExit = program("events_task_exit_btf"), rawExit = program("events_task_exit_raw")
        bpf_program__set_autoload(variant == .tpBTF ? rawExit : btfExit, false)
        if let type = mode.expectedAttachType {
            for name in [probes.entry, probes.exit] { bpf_program__set_expected_attach_type(program(name), type) }
        }
        // Uprobes are attached per library below, not by the skeleton's attach.
        MapSizeOverrides.apply(to: object)
        let err = kind == .dns ? dns_bpf__load(dns) : tls_bpf__load(tls)
        guard err == 0 else { throw .bpfLoadFailed(object: "\(name) (\(variant.rawValue))", reason: errnoText(err), verifierLog: BPFLog.tail()) }
        exitLinks = try attachAutoloaded([variant == .tpBTF ? btfExit : rawExit], object: name)
        reader = try EventRecordReader(mapFD: mapFD("event_records"))
    }

    private func program(_ name: String) -> OpaquePointer? {
        bpf_object__find_program_by_name(object, name)
    }

    private func map(_ name: String) -> OpaquePointer? {
        bpf_object__find_map_by_name(object, name)
    }

    private func mapFD(_ name: String) -> Int32 {
        bpf_map__fd(map(name))
    }

    /// Probes libraries of processes started since the last scan; returns how
    /// many library files were newly attached.
    @discardableResult
    public func rescan() -> Int {
        guard object != nil else { return 0 }
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
        guard object != nil else { return [] }
        let rows = readArrayMap(mapFD("event_hist"), count: Int(EVENT_ROWS), zero: latency_histogram())
        return rows.prefix(rowNames.count).map(LatencyHistogram.init)
    }

    /// (events measured, records lost to a full ring buffer, call sites over the rate).
    public func counters() -> (events: UInt64, recordsLost: UInt64, callSitesSkipped: UInt64) {
        guard object != nil else { return (0, 0, 0) }
        let stats = StackCountMaps.perCPUCounters(mapFD("event_stats"), count: Int(EVENT_STAT_COUNT.rawValue))
        return (stats[Int(EVENT_STAT_EVENTS.rawValue)], stats[Int(EVENT_STAT_RECORDS_LOST.rawValue)],
                stats[Int(EVENT_STAT_CALL_SITES_SKIPPED.rawValue)])
    }

    public func stop() {
        reader?.close()
        reader = nil
        for key in libraries.keys { libraries[key]?.detach() }
        libraries.removeAll()
        for link in exitLinks { bpf_link__destroy(link) }
        exitLinks.removeAll()
        if let dns { dns_bpf__destroy(dns) }
        if let tls { tls_bpf__destroy(tls) }
        dns = nil
        tls = nil
        object = nil
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
