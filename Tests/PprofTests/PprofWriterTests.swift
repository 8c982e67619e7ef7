import Foundation
import Pprof
import Symbolizer
import TestSupport
import XCTest

final class PprofWriterTests: XCTestCase {
    let exe = BinaryMapping(start: 0x400000, limit: 0x401000, fileOffset: 0, path: "/usr/bin/app", buildID: "abcd")

    func frame(_ name: String, _ address: UInt64, kernel: Bool = false) -> Frame {
        Frame(function: name, systemName: "sys_" + name, address: address, mapping: kernel ? .kernel : exe)
    }

    func sampleProfile() -> CPUProfile {
        let shared = [frame("leaf", 0x400100), frame("middle", 0x400200), frame("main", 0x400300)]
        return CPUProfile(samples: [
            StackSample(frames: [frame("vfs_read", 0xffffffff81000010, kernel: true)] + shared, count: 3, pid: 10, tid: 11, comm: "app"),
            StackSample(frames: shared, count: 2, pid: 10, tid: 12, comm: "app", spanID: 0xabc),
        ], startNanos: 1_700_000_000_000_000_000, durationNanos: 5_000_000_000, frequency: 97)
    }

    func testMessageFollowsTheSpec() throws {
        let message = PprofWriter().message(for: sampleProfile())
        let strings = message.stringTable
        XCTAssertEqual(strings.first, "")
        XCTAssertEqual(message.sampleType.map { [strings[Int($0.type)], strings[Int($0.unit)]] }, [["samples", "count"], ["cpu", "nanoseconds"]])
        XCTAssertEqual(strings[Int(message.periodType.type)], "cpu")
        XCTAssertEqual(strings[Int(message.periodType.unit)], "nanoseconds")
        XCTAssertEqual(message.period, 1_000_000_000 / 97)
        XCTAssertEqual(message.timeNanos, 1_700_000_000_000_000_000)
        XCTAssertEqual(message.durationNanos, 5_000_000_000)
        XCTAssertEqual(message.sample.map(\.value), [[3, 3 * (1_000_000_000 / 97)], [2, 2 * (1_000_000_000 / 97)]])
        // Shared frames are written once; the kernel has its own mapping.
        XCTAssertEqual(message.location.count, 4)
        XCTAssertEqual(message.function.count, 4)
        XCTAssertEqual(message.mapping.count, 2)
        XCTAssertTrue(message.mapping.allSatisfy(\.hasFunctions_p))
        XCTAssertEqual(Set(message.mapping.map { strings[Int($0.filename)] }), ["/usr/bin/app", "[kernel.kallsyms]"])
        XCTAssertEqual(message.mapping.first { strings[Int($0.filename)] == "/usr/bin/app" }.map { strings[Int($0.buildID)] }, "abcd")
        // IDs are non-zero and unique.
        XCTAssertFalse(message.location.contains { $0.id == 0 })
        XCTAssertEqual(Set(message.function.map(\.id)).count, message.function.count)
    }

    func testRoundTripThroughGzip() throws {
        let data = try PprofWriter().encode(sampleProfile())
        XCTAssertEqual(Array(data.prefix(2)), [0x1f, 0x8b])
        let samples = PprofReader.flatten(try PprofReader.decode(data))
        XCTAssertEqual(samples.count, 2)
        XCTAssertEqual(samples[0].functions, ["vfs_read", "leaf", "middle", "main"])  // leaf first, kernel above user
        XCTAssertEqual(samples[0].mappings.first, "[kernel.kallsyms]")
        XCTAssertEqual(samples[0].numericLabels, ["pid": 10, "tid": 11])
        XCTAssertEqual(samples[0].labels, ["comm": "app"])
        XCTAssertEqual(samples[1].labels, ["comm": "app", "span_id": "0000000000000abc"])
    }

    func testGoToolPprofAcceptsTheFile() throws {
        guard let go = TestEnvironment.which("go") else { throw ReferenceToolMissing(name: "go") }
        let directory = TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("unit.pb.gz")
        try PprofWriter().encode(sampleProfile()).write(to: file)
        let result = try Command.run(go, ["tool", "pprof", "-top", "-sample_index=samples", file.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.output.contains("leaf"), result.output)
        XCTAssertTrue(result.output.contains("vfs_read"), result.output)
        XCTAssertTrue(result.output.contains("5 total") || result.output.contains("of 5"), result.output)
    }

    /// One span's profile: CPU samples, off-CPU time and the event's own stack,
    /// each in its own sample type; go tool pprof reads each type's total.
    func mixedProfile(cpu: Bool = true) -> CPUProfile {
        let shared = [frame("leaf", 0x400100), frame("main", 0x400300)]
        var offCPU = StackSample(frames: [frame("schedule", 0xffffffff81000020, kernel: true)] + shared, count: 7_000_000, pid: 10, tid: 11,
                                 comm: "app", spanID: 0xabc)
        offCPU.kind = .offCPU
        var event = StackSample(frames: [frame("resolve", 0x400200)] + shared, count: 1, pid: 10, tid: 11, comm: "app", spanID: 0xabc)
        event.kind = .event
        let onCPU = StackSample(frames: shared, count: 3, pid: 10, tid: 11, comm: "app", spanID: 0xabc)
        return CPUProfile(samples: (cpu ? [onCPU] : []) + [offCPU, event], startNanos: 1_700_000_000_000_000_000, durationNanos: 1_000_000_000,
                          frequency: 97, kind: .mixed)
    }

    func testMixedProfileKeepsEachKindInItsOwnType() throws {
        let message = PprofWriter().message(for: mixedProfile())
        let strings = message.stringTable
        XCTAssertEqual(message.sampleType.map { "\(strings[Int($0.type)])/\(strings[Int($0.unit)])" },
                       ["samples/count", "cpu/nanoseconds", "offcpu/nanoseconds", "events/count"])
        XCTAssertEqual(message.sample.map(\.value), [[3, 3 * (1_000_000_000 / 97), 0, 0], [0, 0, 7_000_000, 0], [0, 0, 0, 1]])
        XCTAssertEqual(strings[Int(message.defaultSampleType)], "cpu")
        // Without CPU samples the profile opens on its off-CPU time, without both on its events.
        let blocked = PprofWriter().message(for: mixedProfile(cpu: false))
        XCTAssertEqual(blocked.stringTable[Int(blocked.defaultSampleType)], "offcpu")
        var eventOnly = mixedProfile(cpu: false)
        eventOnly.samples.removeFirst()
        let events = PprofWriter().message(for: eventOnly)
        XCTAssertEqual(events.stringTable[Int(events.defaultSampleType)], "events")
        // Read back, each sample keeps its kind and its own count.
        let read = PprofReader.cpuProfile(try PprofReader.decode(try PprofWriter().encode(mixedProfile())))
        XCTAssertEqual(read.kind, .mixed)
        XCTAssertEqual(read.samples.map(\.kind), [.cpu, .offCPU, .event])
        XCTAssertEqual(read.samples.map(\.count), [3, 7_000_000, 1])
        XCTAssertEqual(Set(read.samples.map(\.spanID)), [0xabc])
    }

    func testGoToolPprofReadsEveryTypeOfAMixedProfile() throws {
        guard let go = TestEnvironment.which("go") else { throw ReferenceToolMissing(name: "go") }
        let directory = TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("span.pb.gz")
        try PprofWriter().encode(mixedProfile()).write(to: file)
        for (index, expected, leaf) in [("samples", "3 total", "leaf"), ("offcpu", "7ms total", "schedule"), ("events", "1 total", "resolve")] {
            let result = try Command.run(go, ["tool", "pprof", "-top", "-sample_index=\(index)", file.path])
            XCTAssertEqual(result.status, 0, result.stderr)
            XCTAssertTrue(result.output.contains(expected), "\(index): \(result.output)")
            let lines = result.output.split(separator: "\n")
            let rows = lines.drop { !$0.contains("flat%") }.dropFirst()
            XCTAssertEqual(rows.first.map { $0.hasSuffix(" " + leaf) }, true, "\(index): the flattest leaf is \(leaf): \(rows)\n\(result.output)")
        }
    }

    func testFoldedFormat() {
        let folded = FoldedWriter().encode(sampleProfile())
        XCTAssertEqual(folded, "app;main;middle;leaf 2\napp;main;middle;leaf;vfs_read_[k] 3\n")
    }

    func testFoldedEscapesSeparators() {
        let profile = CPUProfile(samples: [
            StackSample(frames: [Frame(function: "a;b c", systemName: "x", address: 1, mapping: nil)], count: 1, pid: 1, tid: 1, comm: "my app"),
        ], startNanos: 0, durationNanos: 1, frequency: 97)
        XCTAssertEqual(FoldedWriter().encode(profile), "my_app;a:b_c 1\n")
    }

    func testGzipRoundTripAndErrors() throws {
        let payload = Data((0..<100_000).map { UInt8(truncatingIfNeeded: $0 * 7) })
        XCTAssertEqual(try Gzip.decompress(try Gzip.compress(payload)), payload)
        XCTAssertThrowsError(try Gzip.decompress(Data([1, 2, 3])))
        XCTAssertThrowsError(try Gzip.decompress(try Gzip.compress(payload), limit: 1000))
        var corrupt = try Gzip.compress(payload)
        corrupt[corrupt.count / 2] ^= 0xff
        XCTAssertThrowsError(try Gzip.decompress(corrupt))
    }
}
