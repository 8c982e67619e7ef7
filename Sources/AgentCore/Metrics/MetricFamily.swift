/// A metric family as both Prometheus text 0.0.4 and OpenMetrics 1.0 describe it.
public struct MetricFamily: Sendable {
    public enum Kind: String, Sendable { case counter, gauge, histogram }

    /// Base name: without `_total` for counters, without `_bucket`/`_sum`/`_count` for histograms.
    public var name: String
    public var help: String
    public var kind: Kind
    public var unit: String?
    public var samples: [MetricSample]

    public init(name: String, help: String, kind: Kind, unit: String? = nil, samples: [MetricSample]) {
        self.name = name
        self.help = help
        self.kind = kind
        self.unit = unit
        self.samples = samples
    }

    /// A counter with one sample per label set.
    public static func counter(_ name: String, _ help: String, _ values: [([(String, String)], Double)]) -> MetricFamily {
        MetricFamily(name: name, help: help, kind: .counter,
                     samples: values.map { MetricSample(suffix: "_total", labels: $0.0, value: $0.1) })
    }

    public static func counter(_ name: String, _ help: String, _ value: Double) -> MetricFamily {
        counter(name, help, [([], value)])
    }

    public static func gauge(_ name: String, _ help: String, _ value: Double, unit: String? = nil) -> MetricFamily {
        gauge(name, help, [([], value)], unit: unit)
    }

    public static func gauge(_ name: String, _ help: String, _ values: [([(String, String)], Double)], unit: String? = nil) -> MetricFamily {
        MetricFamily(name: name, help: help, kind: .gauge, unit: unit, samples: values.map { MetricSample(suffix: "", labels: $0.0, value: $0.1) })
    }
}

/// One line of a family: `name+suffix{labels} value [# exemplar]`.
public struct MetricSample: Sendable {
    public var suffix: String
    public var labels: [(String, String)]
    public var value: Double
    /// Only written in OpenMetrics, and only on `_total` and `_bucket` lines.
    public var exemplar: Exemplar?

    public init(suffix: String, labels: [(String, String)], value: Double, exemplar: Exemplar? = nil) {
        self.suffix = suffix
        self.labels = labels
        self.value = value
        self.exemplar = exemplar
    }
}

/// An OpenMetrics exemplar: `# {labels} value timestamp`.
public struct Exemplar: Sendable, Equatable {
    public var labels: [String: String]
    public var value: Double
    /// Seconds since the Unix epoch.
    public var timestamp: Double?

    public init(labels: [String: String], value: Double, timestamp: Double?) {
        self.labels = labels
        self.value = value
        self.timestamp = timestamp
    }
}
