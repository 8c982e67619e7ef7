import CBPF
import Foundation

/// What one traced event was: the event behind a span that became an exemplar,
/// as its stack record (`bpf/event_stack.h`) describes it.
public struct SpanEvent: Sendable, Equatable {
    /// The tracer that timed it (the values are `--tracers` names).
    public enum Kind: String, Sendable {
        case syscall, dns, tls, io
    }

    public var kind: Kind
    public var spanID: UInt64
    public var pid: Int32
    public var tid: Int32
    public var comm: String
    /// CLOCK_MONOTONIC nanoseconds at the event's start.
    public var startMonotonicNanoseconds: UInt64
    /// nil when the stacks were taken at the start (block I/O: at issue) and the
    /// event had not ended; the exemplar carries the duration.
    public var durationNanoseconds: UInt64?
    /// The syscall name, the DNS result ("ok", "error"), the TLS operation
    /// ("read", "write", "handshake") or the block I/O operation ("read", "write", …).
    public var operation: String
    /// Block I/O only: the device number (MKDEV), named by the page.
    public var device: UInt32?

    public init(kind: Kind, spanID: UInt64, pid: Int32, tid: Int32, comm: String, startMonotonicNanoseconds: UInt64,
                durationNanoseconds: UInt64?, operation: String, device: UInt32? = nil) {
        self.kind = kind
        self.spanID = spanID
        self.pid = pid
        self.tid = tid
        self.comm = comm
        self.startMonotonicNanoseconds = startMonotonicNanoseconds
        self.durationNanoseconds = durationNanoseconds
        self.operation = operation
        self.device = device
    }
}

/// One event's stacks as BPF sent them, before symbolisation.
struct EventStack: Sendable {
    var event: SpanEvent
    /// Kernel frames (leaf first), then user frames; count 1.
    var rawStack: RawStack

    /// Decodes one `struct event_stack_record`; nil for a short or unknown one.
    init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= MemoryLayout<event_stack_record>.size else { return nil }
        let r = bytes.loadUnaligned(as: event_stack_record.self)
        let kind: SpanEvent.Kind, operation: String
        var device: UInt32?
        switch r.kind {
        case UInt32(SPAN_SYSCALL.rawValue): (kind, operation) = (.syscall, syscallName(Int(r.detail)))
        case UInt32(SPAN_DNS.rawValue): (kind, operation) = (.dns, r.detail == UInt32(DNS_OK.rawValue) ? "ok" : "error")
        case UInt32(SPAN_TLS.rawValue):
            kind = .tls
            operation = ["read", "write", "handshake"][min(Int(r.detail), 2)]
        case UInt32(EVENT_STACK_BLOCK_IO):
            (kind, operation) = (.io, BlockIOTracer.operationName(r.detail2))
            device = r.detail
        default: return nil
        }
        let comm = commString(r.comm)
        event = SpanEvent(kind: kind, spanID: r.span_id, pid: Int32(bitPattern: r.pid), tid: Int32(bitPattern: r.tid), comm: comm,
                          startMonotonicNanoseconds: r.start_ns, durationNanoseconds: r.duration_ns == 0 ? nil : r.duration_ns,
                          operation: operation, device: device)
        let kernel = withUnsafeBytes(of: r.kernel) { Array($0.bindMemory(to: UInt64.self).prefix(min(Int(r.kernel_depth), Int(EVENT_STACK_KERNEL_DEPTH)))) }
        let user = withUnsafeBytes(of: r.user) { Array($0.bindMemory(to: UInt64.self).prefix(min(Int(r.user_depth), Int(UNWIND_MAX_DEPTH)))) }
        var frames = kernel.map(RawFrame.kernel)
        switch r.user_kind {
        case UInt32(EVENT_STACK_USER_TABLE.rawValue):
            frames += StackCountMaps.unwoundFrames(user)
        case UInt32(EVENT_STACK_USER_FP.rawValue):
            // The frame walk ends where user memory could not be read: drop zero tails.
            for (index, address) in user.prefix(while: { $0 != 0 }).enumerated() {
                frames.append(.native(address, returnAddress: index > 0))
            }
        default: break
        }
        // Taken at a uretprobe: the leaf is the return address into the caller.
        if r.leaf_is_return != 0, let index = frames.firstIndex(where: { if case .native = $0 { true } else { false } }),
           case .native(let address, _) = frames[index] {
            frames[index] = .native(address, returnAddress: true)
        }
        rawStack = RawStack(pid: event.pid, tid: event.tid, comm: comm, spanID: r.span_id, frames: frames, count: 1)
    }
}

/// The shared event-stack counters (`enum event_stack_stat`), summed over CPUs.
public struct EventStackStatistics: Sendable, Equatable {
    /// Stacks sent to the agent (each one an exemplar's event, or a block I/O request that may become one).
    public var sent: UInt64 = 0
    /// Not sent: the ring buffer was full (the bucket kept its older exemplar).
    public var ringFull: UInt64 = 0
    /// Not taken: over the per-CPU rate.
    public var overRate: UInt64 = 0
    /// Not sent: no user and no kernel stack.
    public var empty: UInt64 = 0
    /// Records the agent could not decode.
    public var malformed: UInt64 = 0

    public init() {}

    init(fd: Int32, malformed: UInt64) {
        let totals = StackCountMaps.perCPUCounters(fd, count: Int(EVENT_STACK_STAT_COUNT.rawValue))
        sent = totals[Int(EVENT_STACK_STAT_SENT.rawValue)]
        ringFull = totals[Int(EVENT_STACK_STAT_RING_FULL.rawValue)]
        overRate = totals[Int(EVENT_STACK_STAT_RATE.rawValue)]
        empty = totals[Int(EVENT_STACK_STAT_EMPTY.rawValue)]
        self.malformed = malformed
    }
}
