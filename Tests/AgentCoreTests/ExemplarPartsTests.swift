import Foundation
import Pprof
import Symbolizer
import XCTest

@testable import AgentCore

/// The gate that lets only resolvable exemplars out, the open window's span
/// search it relies on, and the per-tracer cost arithmetic of `/debug/overhead`.
final class ExemplarGateTests: XCTestCase {
    /// A gate whose "agent" holds the spans in `held` (span → pid).
    final class Held: @unchecked Sendable {
        let lock = NSLock()
        var spans: [UInt64: Int32] = [:]
        func pid(_ span: UInt64) -> Int32? { lock.withLock { spans[span] } }
        func set(_ span: UInt64, _ pid: Int32?) { lock.withLock { spans[span] = pid } }
    }

    func exemplar(_ span: UInt64) -> LatencyExemplar {
        LatencyExemplar(spanID: span, durationNanoseconds: 1000 * span, endMonotonicNanoseconds: 5000 * span)
    }

    func testExportsOnlyHeldSpansAndLetsThePreviousOneStandIn() {
        let held = Held()
        let gate = ExemplarGate(resolves: { held.pid($0) })
        // Nothing held yet: no exemplar at all (not one that would 404).
        XCTAssertNil(gate.admit(exemplar(1), key: "a"))
        XCTAssertEqual(gate.statistics, .init(current: 0, withheld: 1, stoodIn: 0))
        // Once the span's stacks arrived it goes out, with its process.
        held.set(1, 42)
        var out = gate.admit(exemplar(1), key: "a")
        XCTAssertEqual(out?.spanID, 1)
        XCTAssertEqual(out?.pid, 42)
        // A newer one not held yet: the previous (still held) stands in.
        out = gate.admit(exemplar(2), key: "a")
        XCTAssertEqual(out?.spanID, 1)
        XCTAssertEqual(out?.durationNanoseconds, 1000, "the stand-in keeps its own value")
        XCTAssertEqual(gate.statistics, .init(current: 1, withheld: 2, stoodIn: 1))
        // Buckets are independent.
        XCTAssertNil(gate.admit(exemplar(2), key: "b"))
        // The previous one expired too: nothing, and it is forgotten.
        held.set(1, nil)
        XCTAssertNil(gate.admit(exemplar(2), key: "a"))
        XCTAssertEqual(gate.count, 0)
        held.set(2, 7)
        XCTAssertEqual(gate.admit(exemplar(2), key: "a")?.pid, 7)
        XCTAssertEqual(gate.count, 1)
    }

    /// Exemplars that change as often as the agent drains and Prometheus scrapes: each scrape's
    /// newest is not held yet, but the one withheld at the scrape before is, and goes out.
    func testAnExemplarWithheldAtOneScrapeGoesOutAtTheNextOnceHeld() {
        let held = Held()
        let gate = ExemplarGate(resolves: { held.pid($0) })
        XCTAssertNil(gate.admit(exemplar(1), key: "k"))
        held.set(1, 5)
        XCTAssertEqual(gate.admit(exemplar(2), key: "k")?.spanID, 1, "withheld at the last scrape, held now")
        held.set(2, 5)
        XCTAssertEqual(gate.admit(exemplar(3), key: "k")?.spanID, 2)
        // Nothing newer held: the last one exported stands in.
        XCTAssertEqual(gate.admit(exemplar(4), key: "k")?.spanID, 2)
        XCTAssertEqual(gate.statistics, .init(current: 0, withheld: 4, stoodIn: 3))
    }

    func testAnExpiredNewestWithNoPredecessorExportsNothing() {
        let held = Held()
        held.set(3, 1)
        let gate = ExemplarGate(resolves: { held.pid($0) })
        XCTAssertEqual(gate.admit(exemplar(3), key: "k")?.spanID, 3)
        held.set(3, nil)
        // The same span, now expired: neither it nor a stand-in.
        XCTAssertNil(gate.admit(exemplar(3), key: "k"))
        XCTAssertNil(gate.admit(nil, key: "k"))
        XCTAssertEqual(gate.statistics.stoodIn, 0)
    }
}

final class OpenWindowSpanTests: XCTestCase {
    func sample(span: UInt64, pid: Int32, kind: SampleKind = .cpu) -> StackSample {
        var s = StackSample(frames: [Frame(function: "f", systemName: "f", address: 1, mapping: nil)], count: 2, pid: pid, tid: pid,
                            comm: "c", spanID: span)
        s.kind = kind
        return s
    }

    func event(span: UInt64, pid: Int32) -> SpanEvent {
        SpanEvent(kind: .dns, spanID: span, pid: pid, tid: pid, comm: "c", startMonotonicNanoseconds: 1, durationNanoseconds: 9,
                  operation: "ok")
    }

    func window() -> ProfileWindow {
        ProfileWindow(id: 0, startNanos: 100, endNanos: 200, sampleCount: 1, stackCount: 1, pprof: Data(count: 10), spanIDs: [])
    }

    func testSpansAreFoundBeforeAndAfterTheirWindowCloses() throws {
        let store = WindowStore(budget: 1 << 20)
        XCTAssertNil(store.process(ofSpan: 5))
        XCTAssertNil(store.span(5))
        store.addToOpenWindow([sample(span: 5, pid: 11), sample(span: 0, pid: 12)], events: [event(span: 6, pid: 13)], windowStartNanos: 100)
        // Searchable at once, before the window closes.
        XCTAssertEqual(store.process(ofSpan: 5), 11)
        XCTAssertEqual(store.process(ofSpan: 6), 13, "an event alone (its stacks) answers for its span")
        XCTAssertNil(store.process(ofSpan: 0))
        let open = try XCTUnwrap(store.span(5))
        XCTAssertEqual(open.samples.map(\.count), [2])
        XCTAssertEqual(open.windowIDs, [])
        XCTAssertEqual(open.startNanos, 100)
        // The same stack drained twice in the open window is one sample once it closes.
        store.addToOpenWindow([sample(span: 5, pid: 11)], events: [], windowStartNanos: 100)
        let closed = store.add(window())
        XCTAssertEqual(closed.spanIDs, [5, 6])
        XCTAssertEqual(closed.spanSamples[5]?.map(\.count), [4])
        XCTAssertEqual(closed.spanEvents[6]?.pid, 13)
        XCTAssertEqual(store.process(ofSpan: 5), 11)
        XCTAssertEqual(store.span(6)?.event?.operation, "ok")
        XCTAssertEqual(store.span(6)?.windowIDs, [closed.id])
        // A span in both the closed and the new open window: its samples from both.
        store.addToOpenWindow([sample(span: 5, pid: 11, kind: .offCPU)], events: [], windowStartNanos: 200)
        XCTAssertEqual(store.span(5)?.samples.map(\.kind), [.cpu, .offCPU])
    }

    func testEvictionForgetsTheSpan() {
        let store = WindowStore(budget: 1)
        store.addToOpenWindow([sample(span: 9, pid: 1)], events: [], windowStartNanos: 0)
        store.add(window())
        XCTAssertEqual(store.process(ofSpan: 9), 1, "the newest window is kept even over budget")
        store.add(window())
        XCTAssertNil(store.process(ofSpan: 9))
        XCTAssertNil(store.span(9))
    }
}

final class ProgramCostHistoryTests: XCTestCase {
    func program(_ tracer: String, _ name: String, runs: UInt64, nanoseconds: UInt64) -> BPFProgramStatistics {
        BPFProgramStatistics(tracer: tracer, name: name, runCount: runs, runTimeNanoseconds: nanoseconds)
    }

    func testRatesOverTheSpanAndCostPerEvent() throws {
        var history = ProgramCostHistory(span: 10)
        history.record([program("syscall", "sys_enter", runs: 100, nanoseconds: 10_000),
                        program("syscall", "sys_exit", runs: 100, nanoseconds: 30_000),
                        program("cpu", "perf_event", runs: 5, nanoseconds: 5_000)], at: 0)
        // A single snapshot: totals, no rates.
        var overhead = history.overhead()
        XCTAssertEqual(overhead.map(\.eventsPerSecond), [0, 0])
        XCTAssertEqual(overhead.first { $0.tracer == "syscall" }?.nanosecondsPerEvent, 400)
        history.record([program("syscall", "sys_enter", runs: 1100, nanoseconds: 110_000),
                        program("syscall", "sys_exit", runs: 1100, nanoseconds: 330_000),
                        program("cpu", "perf_event", runs: 25, nanoseconds: 45_000)], at: 2)
        overhead = history.overhead()
        XCTAssertEqual(overhead.map(\.tracer), ["syscall", "cpu"], "busiest first")
        let syscall = try XCTUnwrap(overhead.first)
        // 1000 syscalls in 2 s; each cost enter + exit = 100 + 300 ns.
        XCTAssertEqual(syscall.eventsPerSecond, 500)
        XCTAssertEqual(syscall.nanosecondsPerEvent, 400)
        XCTAssertEqual(syscall.cpuSecondsPerSecond, 400_000e-9 / 2, accuracy: 1e-12)
        XCTAssertEqual(syscall.programs.map(\.program), ["sys_enter", "sys_exit"])
        XCTAssertEqual(syscall.programs.map(\.runsTotal), [1100, 1100])
        XCTAssertEqual(syscall.programs.map(\.nanosecondsPerRun), [100, 300])
        XCTAssertEqual(overhead[1].nanosecondsPerEvent, 2000)
        XCTAssertEqual(history.seconds, 2)
    }

    func testKeepsOnlyTheSpan() {
        var history = ProgramCostHistory(span: 10)
        for second in 0...30 {
            history.record([program("io", "block_rq_complete", runs: UInt64(second * second), nanoseconds: UInt64(second))], at: Double(second))
        }
        XCTAssertEqual(history.seconds, 10, accuracy: 1)
        // Runs 20² … 30² over the last 10 s: 500 runs / 10 s.
        XCTAssertEqual(history.overhead().first?.eventsPerSecond ?? 0, 50, accuracy: 5)
    }

    func testEncodesTheDocumentedKeys() throws {
        var history = ProgramCostHistory()
        history.record([program("dns", "getaddrinfo_return", runs: 1, nanoseconds: 1)], at: 0)
        let json = try XCTUnwrap(String(data: JSONEncoder().encode(history.overhead()), encoding: .utf8))
        for key in ["tracer", "events_per_second", "ns_per_event", "cpu_seconds_per_second", "programs", "runs_total",
                    "run_seconds_total", "runs_per_second", "ns_per_run"] {
            XCTAssertTrue(json.contains("\"\(key)\""), "\(key) in \(json)")
        }
    }
}
