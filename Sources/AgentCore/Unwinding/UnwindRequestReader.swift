import CBPF
import Foundation
import Symbolizer

/// Describes processes to the table unwinder as soon as the BPF side asks
/// (`unwind_requests`, `bpf/unwind.h`): at exec, for a stack of a pid it does
/// not know (forked or started since the last /proc scan) and for a pc in no
/// described mapping (a `dlopen`ed library). Runs on a thread of its own that
/// waits on the ring buffer, so a new process gets its tables within
/// milliseconds instead of at the next drain.
final class UnwindRequestReader: @unchecked Sendable {
    /// What was asked and how long answering took.
    struct Statistics: Sendable, Equatable {
        /// Requests by `enum unwind_request_reason`: exec, unknown_process, no_mapping.
        var requests: [UInt64] = [0, 0, 0]
        /// From the BPF event to the process described (its tables loaded).
        var latencySecondsSum = 0.0
        var latencySecondsMax = 0.0
        var answered: UInt64 = 0
    }

    static let reasons = ["exec", "unknown_process", "no_mapping"]

    private final class Sink {
        var requests: [unwind_request] = []
    }

    private let tables: Locked<UnwindTableLoader>
    private let mapsObserver: (@Sendable (Int32, ProcessMaps) -> Void)?
    private let sink = Sink()
    private var ring: OpaquePointer?
    private let stopping = Locked(false)
    private let finished = DispatchSemaphore(value: 0)
    private var started = false
    private let state = Locked(Statistics())

    /// Opens the ring buffer; `start()` begins answering.
    /// `mapsObserver` gets each process's maps as they were read to describe it.
    init(mapFD: Int32, tables: Locked<UnwindTableLoader>, mapsObserver: (@Sendable (Int32, ProcessMaps) -> Void)? = nil) throws(AgentError) {
        self.tables = tables
        self.mapsObserver = mapsObserver
        let context = Unmanaged.passUnretained(sink).toOpaque()
        ring = ring_buffer__new(mapFD, { context, data, size in
            guard let context, let data, size >= MemoryLayout<unwind_request>.size else { return 0 }
            let sink = Unmanaged<Sink>.fromOpaque(context).takeUnretainedValue()
            sink.requests.append(UnsafeRawPointer(data).loadUnaligned(as: unwind_request.self))
            return 0
        }, context, nil)
        guard ring != nil else { throw .bpfLoadFailed(object: "unwind request ring buffer", reason: errnoText(errno), verifierLog: []) }
    }

    deinit {
        stop()
        if let ring { ring_buffer__free(ring) }
    }

    var statistics: Statistics { state.withLock { $0 } }

    func start() {
        guard !started, ring != nil else { return }
        started = true
        let thread = Thread { [self] in
            while !stopping.withLock({ $0 }) {
                _ = ring_buffer__poll(ring, 50)  // ms: also how long stop() may wait
                answer()
                // A Python process exec'd moments ago gets its frames once its interpreter is up.
                tables.withLock { $0.python.retryPending() }
            }
            finished.signal()
        }
        thread.name = "unwind-requests"
        thread.start()
    }

    /// Stops the thread and waits for it.
    func stop() {
        guard started else { return }
        started = false
        stopping.withLock { $0 = true }
        finished.wait()
    }

    private func answer() {
        guard !sink.requests.isEmpty else { return }
        let requests = sink.requests
        sink.requests.removeAll(keepingCapacity: true)
        // One answer per process for the whole batch: the strongest reason wins.
        var wanted: [UInt32: unwind_request] = [:]
        for request in requests {
            if let seen = wanted[request.pid], seen.reason <= request.reason { continue }
            wanted[request.pid] = request
        }
        var counts = [UInt64](repeating: 0, count: Self.reasons.count)
        for request in requests where Int(request.reason) < counts.count { counts[Int(request.reason)] += 1 }
        var latencies: [Double] = []
        for request in wanted.values.sorted(by: { $0.time_ns < $1.time_ns }) {
            // Exec deleted the entry in BPF; an unknown process has none: rewrite it whatever the digest.
            let force = request.reason != UInt32(UNWIND_REQUEST_NO_MAPPING.rawValue)
            let pid = Int32(bitPattern: request.pid)
            let described = tables.withLock { $0.describe(pid, force: force) }
            let now = monotonicNanoseconds()
            if described != nil, now >= request.time_ns { latencies.append(Double(now - request.time_ns) / 1e9) }
            // After the tables: a short-lived process's next sample needs those more.
            if let described { mapsObserver?(pid, described) }
        }
        state.withLock { s in
            for (index, count) in counts.enumerated() { s.requests[index] += count }
            s.answered += UInt64(latencies.count)
            s.latencySecondsSum += latencies.reduce(0, +)
            s.latencySecondsMax = max(s.latencySecondsMax, latencies.max() ?? 0)
        }
    }
}

/// CLOCK_MONOTONIC in nanoseconds (bpf_ktime_get_ns's clock).
func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}
