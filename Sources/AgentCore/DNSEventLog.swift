import Foundation
import Symbolizer

/// One DNS lookup as `/events?type=dns` shows it.
public struct DNSEvent: Sendable {
    public var lookup: DNSLookup
    /// Unix seconds at the lookup's end.
    public var time: Double
    /// Function names of the call site, the caller of getaddrinfo first (empty when unknown).
    public var callers: [String]
}

extension DNSEvent {
    /// Events for finished lookups, timed on the wall clock, with the function
    /// names of their call sites (`callers`: the call site's frames by span, when known).
    static func events(_ lookups: [DNSLookup], callers: (UInt64) -> [Frame]?) -> [DNSEvent] {
        var mono = timespec()
        clock_gettime(CLOCK_MONOTONIC, &mono)
        let now = Date().timeIntervalSince1970
        let monoNow = Double(mono.tv_sec) + Double(mono.tv_nsec) / 1e9
        return lookups.map { lookup in
            DNSEvent(lookup: lookup, time: now - (monoNow - Double(lookup.endMonotonicNanoseconds) / 1e9),
                     callers: callers(lookup.spanID).map { Array($0.dropFirst().prefix(8).map(\.function).filter { !$0.hasPrefix("[exited") }) } ?? [])
        }
    }
}

/// Recent DNS lookups, bounded in count and age, for finding the slowest ones.
/// Host names live here only, never in metric labels.
public struct DNSEventLog: Sendable {
    public let capacity: Int
    /// Lookups older than this many seconds are forgotten.
    public let maximumAge: Double
    private var events: [DNSEvent] = []

    public init(capacity: Int = 2048, maximumAge: Double = 900) {
        self.capacity = max(capacity, 1)
        self.maximumAge = maximumAge
    }

    public var count: Int { events.count }

    public mutating func add(_ new: [DNSEvent], now: Double) {
        events += new
        let oldest = now - maximumAge
        if let first = events.firstIndex(where: { $0.time >= oldest }), first > 0 { events.removeFirst(first) }
        else if events.last.map({ $0.time < oldest }) == true { events.removeAll() }
        if events.count > capacity { events.removeFirst(events.count - capacity) }
    }

    /// The lookup of `span`, while it is held.
    public func event(span: UInt64) -> DNSEvent? {
        events.last { $0.lookup.spanID == span }
    }

    /// The slowest lookups that ended at or after `since` (Unix seconds), slowest first.
    public func slowest(_ limit: Int, since: Double = 0) -> [DNSEvent] {
        Array(events.filter { $0.time >= since }
            .sorted { $0.lookup.durationNanoseconds > $1.lookup.durationNanoseconds }
            .prefix(limit))
    }
}
