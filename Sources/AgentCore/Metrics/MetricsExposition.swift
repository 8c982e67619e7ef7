/// The two text formats Prometheus scrapes, chosen by the Accept header.
public enum MetricsExposition: Sendable {
    /// Prometheus text format 0.0.4: no exemplars, counters named with `_total`.
    case prometheusText
    /// OpenMetrics 1.0: exemplars, `# EOF` terminator.
    case openMetrics

    public static let openMetricsContentType = "application/openmetrics-text; version=1.0.0; charset=utf-8"
    public static let prometheusContentType = "text/plain; version=0.0.4; charset=utf-8"

    /// OpenMetrics when the scraper's Accept header lists it, else Prometheus text.
    public init(accept: String?) {
        self = (accept ?? "").lowercased().contains("application/openmetrics-text") ? .openMetrics : .prometheusText
    }

    public var contentType: String {
        self == .openMetrics ? Self.openMetricsContentType : Self.prometheusContentType
    }

    public func render(_ families: [MetricFamily]) -> String {
        var out = ""
        out.reserveCapacity(families.count * 200)
        for family in families {
            let typeName = self == .prometheusText && family.kind == .counter ? family.name + "_total" : family.name
            out += "# HELP \(typeName) \(escapeHelp(family.help))\n"
            out += "# TYPE \(typeName) \(family.kind.rawValue)\n"
            if self == .openMetrics, let unit = family.unit { out += "# UNIT \(family.name) \(unit)\n" }
            for sample in family.samples {
                out += family.name + sample.suffix
                if !sample.labels.isEmpty {
                    out += "{" + sample.labels.map { "\($0.0)=\"\(escapeValue($0.1))\"" }.joined(separator: ",") + "}"
                }
                out += " " + formatValue(sample.value)
                if self == .openMetrics, let exemplar = sample.exemplar, sample.suffix == "_total" || sample.suffix == "_bucket" {
                    let labels = exemplar.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\"\(escapeValue($0.value))\"" }.joined(separator: ",")
                    out += " # {\(labels)} \(formatValue(exemplar.value))"
                    if let timestamp = exemplar.timestamp { out += " \(formatTimestamp(timestamp))" }
                }
                out += "\n"
            }
        }
        if self == .openMetrics { out += "# EOF\n" }
        return out
    }

    private func escapeValue(_ value: String) -> String {
        guard value.contains(where: { $0 == "\\" || $0 == "\"" || $0 == "\n" }) else { return value }
        return value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    private func escapeHelp(_ help: String) -> String {
        help.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
    }
}

/// Prometheus number formatting: integers without a fraction, +Inf/-Inf/NaN spelled out.
func formatValue(_ value: Double) -> String {
    if value.isNaN { return "NaN" }
    if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
    if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
    return String(value)
}

func formatTimestamp(_ seconds: Double) -> String {
    let millis = Int64((seconds * 1000).rounded())
    let whole = millis / 1000, fraction = abs(millis % 1000)
    return "\(whole)." + String(repeating: "0", count: 3 - String(fraction).count) + String(fraction)
}

import Foundation
