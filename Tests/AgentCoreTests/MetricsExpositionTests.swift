import AgentCore
import Foundation
import TestSupport
import XCTest

final class MetricsExpositionTests: XCTestCase {
    let families: [MetricFamily] = [
        .counter("demo_events", "Events seen.", [([("kind", "a\"b\\c\nd")], 3)]),
        .gauge("demo_bytes", "Bytes held.", 1.5, unit: "bytes"),
        MetricFamily(name: "demo_latency_seconds", help: "Latency.", kind: .histogram, samples: [
            MetricSample(suffix: "_bucket", labels: [("le", "0.1")], value: 2,
                         exemplar: Exemplar(labels: ["span_id": "00000000000000ab"], value: 0.05, timestamp: 1_700_000_000.123)),
            MetricSample(suffix: "_bucket", labels: [("le", "+Inf")], value: 3),
            MetricSample(suffix: "_sum", labels: [], value: 0.4),
            MetricSample(suffix: "_count", labels: [], value: 3),
        ]),
    ]

    func testNegotiation() {
        XCTAssertEqual(MetricsExposition(accept: "application/openmetrics-text; version=1.0.0,text/plain;q=0.5"), .openMetrics)
        XCTAssertEqual(MetricsExposition(accept: "text/plain"), .prometheusText)
        XCTAssertEqual(MetricsExposition(accept: nil), .prometheusText)
    }

    func testOpenMetrics() {
        let text = MetricsExposition.openMetrics.render(families)
        XCTAssertTrue(text.hasSuffix("# EOF\n"))
        XCTAssertTrue(text.contains("# TYPE demo_events counter\n"))
        XCTAssertTrue(text.contains("demo_events_total{kind=\"a\\\"b\\\\c\\nd\"} 3\n"))
        XCTAssertTrue(text.contains("# UNIT demo_bytes bytes\n"))
        XCTAssertTrue(text.contains("demo_latency_seconds_bucket{le=\"0.1\"} 2 # {span_id=\"00000000000000ab\"} 0.05 1700000000.123\n"))
    }

    func testPrometheusTextHasNoExemplars() {
        let text = MetricsExposition.prometheusText.render(families)
        XCTAssertFalse(text.contains("# EOF"))
        XCTAssertFalse(text.contains(" # {"))
        XCTAssertTrue(text.contains("# TYPE demo_events_total counter\n"))
        XCTAssertTrue(text.contains("demo_latency_seconds_bucket{le=\"0.1\"} 2\n"))
    }

    /// The Prometheus project's own parser must accept our text format.
    func testPromtoolAcceptsTheTextFormat() throws {
        guard let promtool = TestEnvironment.which("promtool") else { throw ReferenceToolMissing(name: "promtool (apt install prometheus)") }
        let result = try Command.run(promtool, ["check", "metrics"], input: Data(MetricsExposition.prometheusText.render(families).utf8))
        XCTAssertEqual(result.status, 0, result.output + result.stderr)
    }
}
