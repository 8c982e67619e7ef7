import AgentCore
import AgentService
import Foundation
import Pprof
import Symbolizer
import TestSupport
import XCTest

final class WindowStoreTests: XCTestCase {
    func window(_ bytes: Int, spans: Set<UInt64> = []) -> ProfileWindow {
        ProfileWindow(id: 0, startNanos: 0, endNanos: 1, sampleCount: 1, stackCount: 1, pprof: Data(count: bytes), spanIDs: spans)
    }

    func testEvictsOldestBeyondBudgetAndKeepsNewest() {
        let store = WindowStore(budget: 1300)
        let first = store.add(window(300, spans: [7]))
        store.add(window(300))
        store.add(window(300))
        XCTAssertEqual(store.windows.count, 3)
        store.add(window(300))
        XCTAssertEqual(store.windows.map(\.id), [2, 3, 4])
        XCTAssertNil(store.window(id: first.id))
        XCTAssertEqual(store.windows(withSpan: 7).count, 0)
        XCTAssertEqual(store.evictedCount, 1)
        XCTAssertLessThanOrEqual(store.byteCount, 1300)
        store.add(window(5000))  // alone over budget: kept, everything else goes
        XCTAssertEqual(store.windows.map(\.id), [5])
    }
}

final class SampleHubTests: XCTestCase {
    func sample(pid: Int32) -> StackSample {
        StackSample(frames: [Frame(function: "f", systemName: "f", address: 1, mapping: nil)], count: 1, pid: pid, tid: pid, comm: "c")
    }

    func testCollectsUntilDeadlineAndFiltersByPid() async throws {
        let hub = SampleHub(capacity: 2)
        async let collected = hub.collect(seconds: 0.3, pids: [2])
        try await hub.untilWaiting(1)
        let registered = ContinuousClock.now
        hub.publish([sample(pid: 1), sample(pid: 2)])
        hub.publish([sample(pid: 2)])
        try await Task.sleep(until: registered + .milliseconds(350))  // the deadline (0.3 s after collect began) has passed
        hub.publish([sample(pid: 2)])  // past the deadline: completes the tap (and is included)
        let samples = try await collected
        XCTAssertEqual(samples.map(\.count), [3])
        XCTAssertEqual(hub.waiting, 0)
    }

    func testRefusesBeyondCapacityAndWhenClosed() async throws {
        let hub = SampleHub(capacity: 1)
        async let first = hub.collect(seconds: 10)
        try await hub.untilWaiting(1)
        do {
            _ = try await hub.collect(seconds: 1)
            XCTFail("a second request must be refused")
        } catch {
            XCTAssertEqual(error, .busy(limit: 1))
        }
        hub.close()
        _ = try await first
        do {
            _ = try await hub.collect(seconds: 1)
            XCTFail("a closed hub must refuse")
        } catch {
            XCTAssertEqual(error, .stopping)
        }
    }
}

final class SettingsTests: XCTestCase {
    func testFlagBeatsEnvironmentBeatsFileBeatsDefault() throws {
        let directory = TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("agent.yaml")
        try """
            listen: 0.0.0.0:9999
            window: 30
            retain: 8MiB
            pid: [10, 20]
            comm: "^nginx"
            exclude-kernel-threads: true
            pyroscope-url: http://pyroscope:4040
            """.write(to: file, atomically: true, encoding: .utf8)
        let settings = try Settings(flags: ["window": ["5"]], environment: ["PROFILER_AGENT_RETAIN": "4MiB", "NODE_NAME": "node-a"],
                                    configPath: file.path)
        let c = try DaemonConfiguration(settings: settings)
        XCTAssertEqual(c.profiling.window, 5)           // flag
        XCTAssertEqual(c.retainBytes, 4 << 20)          // environment
        XCTAssertEqual(c.host, "0.0.0.0")               // file
        XCTAssertEqual(c.port, 9999)
        XCTAssertEqual(c.profiling.sampling.pids, [10, 20])
        XCTAssertEqual(c.profiling.filters.commPattern, "^nginx")
        XCTAssertTrue(c.profiling.sampling.excludeKernelThreads)
        XCTAssertEqual(c.profiling.nodeName, "node-a")
        XCTAssertEqual(c.pyroscope?.url, "http://pyroscope:4040")
        XCTAssertEqual(c.profiling.sampling.frequency, 97)  // default
        XCTAssertEqual(c.maxProfileSeconds, 60)
    }

    func testBadValuesNameTheirOrigin() throws {
        func message(_ flags: [String: [String]], env: [String: String] = [:]) -> String {
            do {
                _ = try DaemonConfiguration(settings: Settings(flags: flags, environment: env, configPath: nil))
                return ""
            } catch { return "\(error)" }
        }
        XCTAssertEqual(message(["window": ["soon"]]), "--window: 'soon' is not a number of seconds from 1.0 to 3600.0")
        XCTAssertEqual(message([:], env: ["PROFILER_AGENT_FREQUENCY": "0"]), "$PROFILER_AGENT_FREQUENCY: '0' is not an integer from 1 to 10000")
        XCTAssertEqual(message(["listen": ["localhost"]]), "listen: 'localhost' is not HOST:PORT")
        XCTAssertEqual(message(["retain": ["lots"]]), "--retain: 'lots' is not a size (e.g. 16MiB)")
        XCTAssertEqual(message(["pyroscope-url": ["ftp://x"]]), "pyroscope-url: 'ftp://x' is not an http(s) URL")
    }

    func testUnknownKeysAndBadYAMLAreRejected() throws {
        let directory = TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("bad.yaml")
        try "windw: 3\n".write(to: file, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try Settings(flags: [:], environment: [:], configPath: file.path)) {
            XCTAssertTrue("\($0)".contains("unknown key 'windw'"), "\($0)")
        }
        try "window: [unclosed\n".write(to: file, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try Settings(flags: [:], environment: [:], configPath: file.path)) {
            XCTAssertTrue("\($0)".contains("not valid YAML"), "\($0)")
        }
        XCTAssertThrowsError(try Settings(flags: [:], environment: [:], configPath: "/nonexistent.yaml"))
    }
}

final class ProfileRoundTripTests: XCTestCase {
    func testStoredPprofRebuildsTheSameSamples() throws {
        let mapping = BinaryMapping(start: 0x1000, limit: 0x2000, fileOffset: 0, path: "/bin/x", buildID: "ab")
        let frames = [Frame(function: "leaf", systemName: "_Z4leafv", address: 0x1100, mapping: mapping),
                      Frame(function: "vfs_read", systemName: "vfs_read", address: 0xffff_ffff_8100_0000, mapping: .kernel)]
        let original = CPUProfile(samples: [
            StackSample(frames: frames, count: 4, pid: 3, tid: 4, comm: "x", spanID: 0xfeed, labels: ["container_id": "abc"]),
        ], startNanos: 123, durationNanos: 456, frequency: 97)
        let rebuilt = PprofReader.cpuProfile(try PprofReader.decode(try PprofWriter().encode(original)))
        XCTAssertEqual(rebuilt.samples, original.samples)
        XCTAssertEqual(rebuilt.frequency, 97)
        XCTAssertEqual(rebuilt.startNanos, 123)
        let withoutThreads = PprofReader.flatten(try PprofReader.decode(try PprofWriter(threadLabels: false).encode(original)))
        XCTAssertEqual(withoutThreads[0].numericLabels, [:])
        XCTAssertEqual(withoutThreads[0].labels["span_id"], "000000000000feed")
    }
}

final class SampleHubCancellationTests: XCTestCase {
    func testCancelledRequestFreesItsSlot() async throws {
        let hub = SampleHub(capacity: 1)
        let waiting = Task { try await hub.collect(seconds: 60) }
        try await hub.untilWaiting(1)
        waiting.cancel()
        _ = try await waiting.value
        XCTAssertEqual(hub.waiting, 0)
        async let next = hub.collect(seconds: 0)
        try await hub.untilWaiting(1)  // accepted: the slot was free (a refusal would never register)
        hub.publish([])
        _ = try await next
    }
}

extension SampleHub {
    /// Returns once `count` requests are registered: what the tests wait for
    /// instead of sleeping and hoping the `async let` got that far.
    func untilWaiting(_ count: Int, file: StaticString = #filePath, line: UInt = #line) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while waiting < count {
            guard ContinuousClock.now < deadline else {
                XCTFail("\(count) requests never registered (\(waiting) did)", file: file, line: line)
                throw CancellationError()
            }
            try await Task.sleep(for: .milliseconds(1))  // a polling interval, not an ordering guess
        }
    }
}
