import AgentCore
import Foundation
import Pprof

/// What the span page says about one traced event: a title ("read syscall,
/// 42 µs, python3 (1234)") and detail rows (tracer, operation, duration,
/// process, time, the windows around it).
struct SpanDescription {
    var title: String
    var details: [(String, String)]

    init(record: SpanRecord, dns: DNSEvent?, clock: MonotonicToWall) {
        let title: String
        let id = spanIDString(record.samples.first?.spanID ?? record.event?.spanID ?? 0)
        var details: [(String, String)] = []
        let sample = record.samples.first
        if let event = record.event {
            let what: String
            switch event.kind {
            case .syscall: what = "\(event.operation) syscall"
            case .dns: what = "DNS lookup" + (dns.map { " of \($0.lookup.host)" } ?? "") + " (\(event.operation))"
            case .tls: what = "TLS \(event.operation)"
            case .io: what = "block I/O \(event.operation)" + (event.device.map { " on \(Self.device($0))" } ?? "")
            }
            let duration = event.durationNanoseconds.map(Self.duration)
            title = ([what] + (duration.map { [$0] } ?? []) + ["\(event.comm) (\(event.pid))"]).joined(separator: ", ")
            details.append(("tracer", event.kind.rawValue))
            details.append(("event", what))
            details.append(("duration", duration ?? "taken at issue; see the exemplar's value"))
            details.append(("process", "\(event.comm), pid \(event.pid), tid \(event.tid)"))
            details.append(("started", HTTPRoutes.timestamp(Int64(clock.wall(event.startMonotonicNanoseconds) * 1e9))))
        } else {
            // A span known only from samples (an event too short or too frequent to take its own stacks).
            title = "Span \(id)" + (sample.map { ", \($0.comm) (\($0.pid))" } ?? "")
            if let sample { details.append(("process", "\(sample.comm), pid \(sample.pid), tid \(sample.tid)")) }
        }
        if let dns { details.append(("DNS host", dns.lookup.host)) }
        details.append(("span_id", id))
        let windows = record.windowIDs.map { "/flamegraph?id=\($0)" }
        details.append(("windows", windows.isEmpty ? "the open window (closes within --window seconds)" : windows.joined(separator: " ")))
        self.title = title
        self.details = details
    }

    /// "42 µs", "3.1 ms", "1.25 s".
    static func duration(_ nanoseconds: UInt64) -> String {
        let ns = Double(nanoseconds)
        if ns < 1e6 { return String(format: "%.0f µs", ns / 1e3) }
        if ns < 1e9 { return String(format: ns < 1e7 ? "%.2f ms" : "%.1f ms", ns / 1e6) }
        return String(format: "%.2f s", ns / 1e9)
    }

    /// "8:0" for a device number (MKDEV).
    static func device(_ dev: UInt32) -> String { "\(dev >> 20):\(dev & 0xfffff)" }
}
