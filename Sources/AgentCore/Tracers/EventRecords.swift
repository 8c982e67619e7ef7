import CBPF
import Foundation

/// Where a traced library call was made from: raw user addresses, the probed
/// function first, then its caller's return address and the frame chain.
public struct CallSite: Sendable, Equatable {
    public var spanID: UInt64
    public var pid: Int32
    public var tid: Int32
    public var addresses: [UInt64]

    /// The call site as a stack to symbolise (user frames, leaf first).
    var rawStack: RawStack {
        // Table-unwound call sites flag exact pcs (the probed function's entry) with UNWIND_FRAME_EXACT.
        guard addresses.first.map({ $0 & UNWIND_FRAME_EXACT != 0 }) == true else {
            return RawStack(pid: pid, tid: tid, comm: "", spanID: spanID, user: addresses, kernel: [], count: 0)
        }
        return RawStack(pid: pid, tid: tid, comm: "", spanID: spanID, frames: StackCountMaps.unwoundFrames(addresses), count: 0)
    }
}

/// One finished getaddrinfo call.
public struct DNSLookup: Sendable, Equatable {
    public var spanID: UInt64
    public var pid: Int32
    public var tid: Int32
    public var comm: String
    /// The queried name (cut at 127 bytes).
    public var host: String
    public var durationNanoseconds: UInt64
    public var endMonotonicNanoseconds: UInt64
    /// getaddrinfo's return value: 0, or an EAI_* code.
    public var returnCode: Int32
    public var succeeded: Bool { returnCode == 0 }
}

/// What the uprobe tracers send to the agent.
public enum EventRecord: Sendable, Equatable {
    case callSite(CallSite)
    case dnsLookup(DNSLookup)

    /// Decodes one ring-buffer record (`bpf/events.h`); nil for short or unknown ones.
    init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= 4 else { return nil }
        switch bytes.loadUnaligned(as: UInt32.self) {
        case UInt32(EVENT_CALL_SITE.rawValue):
            guard bytes.count >= MemoryLayout<call_site_record>.size else { return nil }
            let r = bytes.loadUnaligned(as: call_site_record.self)
            let first = min(Int(r.first), 1), depth = min(Int(r.depth), Int(EVENT_STACK_DEPTH) - first)
            let stack = withUnsafeBytes(of: r.stack) { Array($0.bindMemory(to: UInt64.self)[first..<(first + depth)]) }
            // The frame walk ends where user memory could not be read: drop zero tails.
            self = .callSite(CallSite(spanID: r.span_id, pid: Int32(bitPattern: r.pid), tid: Int32(bitPattern: r.tid),
                                      addresses: Array(stack.prefix { $0 != 0 })))
        case UInt32(EVENT_DNS_DONE.rawValue):
            guard bytes.count >= MemoryLayout<dns_record>.size else { return nil }
            let r = bytes.loadUnaligned(as: dns_record.self)
            self = .dnsLookup(DNSLookup(spanID: r.span_id, pid: Int32(bitPattern: r.pid), tid: Int32(bitPattern: r.tid),
                                        comm: commString(r.comm), host: commString(r.name),
                                        durationNanoseconds: r.duration_ns, endMonotonicNanoseconds: r.end_ns, returnCode: r.ret))
        default:
            return nil
        }
    }
}

