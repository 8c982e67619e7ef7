import CBPF
import Foundation
import Pprof
import Symbolizer
import XCTest

@testable import AgentCore

final class LibraryScannerTests: XCTestCase {
    func testMatchesLibcAndOpenSSLButNotLookalikes() {
        for name in ["libc.so.6", "libc-2.31.so", "ld-musl-x86_64.so.1", "libc.musl-x86_64.so.1"] {
            XCTAssertTrue(LibraryScanner.isLibc(name), name)
        }
        for name in ["libcap.so.2", "libcrypto.so.3", "libc++.so.1", "libcurl.so.4", "libssl.so.3"] {
            XCTAssertFalse(LibraryScanner.isLibc(name), name)
        }
        XCTAssertTrue(LibraryScanner.isLibSSL("libssl.so.3"))
        XCTAssertTrue(LibraryScanner.isLibSSL("libssl.so.1.1"))
        XCTAssertFalse(LibraryScanner.isLibSSL("libssl3.so"), "NSS, not OpenSSL")
    }

    func testFindsEachLibraryOnceThenOnlyInNewProcesses() throws {
        let scanner = LibraryScanner { LibraryScanner.isLibc($0) }
        let before = Self.livePIDs()
        let first = scanner.scanNewProcesses()
        XCTAssertFalse(first.isEmpty, "this test process maps libc")
        XCTAssertEqual(Set(first.map { "\($0.device):\($0.inode)" }).count, first.count, "one entry per file")
        XCTAssertTrue(first.allSatisfy { !$0.hostPaths.isEmpty && $0.hostPaths.allSatisfy { $0.hasPrefix("/proc/") && $0.contains("/root/") } })
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/sleep")
        child.arguments = ["5"]
        try child.run()  // a failed launch must fail the test, not pass it vacuously
        defer { child.terminate(); child.waitUntilExit() }
        // Until the child has exec'd sleep and mapped libc (no fixed delay).
        let childMaps = "/proc/\(child.processIdentifier)/maps"
        for _ in 0..<500 where !((try? String(contentsOfFile: childMaps, encoding: .utf8))?.contains("libc.so") ?? false) {
            Thread.sleep(forTimeInterval: 0.01)
        }
        let second = scanner.scanNewProcesses()
        XCTAssertTrue(second.contains { $0.hostPaths.contains { $0.hasPrefix("/proc/\(child.processIdentifier)/root/") } },
                      "a process started later is scanned: \(second)")
        // Processes that existed at the first scan were scanned then: none may be read again.
        let rescanned = second.flatMap(\.hostPaths).compactMap { Int32($0.split(separator: "/")[1]) }.filter { before.contains($0) }
        XCTAssertEqual(rescanned, [], "already scanned processes were scanned again: \(second)")
    }

    static func livePIDs() -> Set<Int32> {
        Set(((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { Int32($0) })
    }
}

final class CallSiteTableTests: XCTestCase {
    let libc = BinaryMapping(start: 0x7000, limit: 0x8000, fileOffset: 0, path: "/usr/lib/libc.so.6", buildID: "")
    let app = BinaryMapping(start: 0x1000, limit: 0x2000, fileOffset: 0, path: "/app", buildID: "")

    func frame(_ name: String, _ mapping: BinaryMapping?) -> Frame {
        Frame(function: name, systemName: name, address: 1, mapping: mapping)
    }

    func testCompletesALibraryStackWithItsCallSite() {
        var table = CallSiteTable(capacity: 8)
        table.insert(span: 42, frames: [frame("getaddrinfo", libc), frame("resolve", app), frame("main", app)], now: 100)
        let sample = StackSample(frames: [frame("do_sys_poll", .kernel), frame("__poll", libc), frame("garbage", nil)],
                                 count: 1, pid: 1, tid: 1, comm: "x", spanID: 42)
        XCTAssertEqual(table.complete(sample).frames.map(\.function), ["do_sys_poll", "__poll", "getaddrinfo", "resolve", "main"])
        // The library's own chain reaching the probed function is not doubled.
        let walked = StackSample(frames: [frame("__poll", libc), frame("getaddrinfo", libc)], count: 1, pid: 1, tid: 1, comm: "x", spanID: 42)
        XCTAssertEqual(table.complete(walked).frames.map(\.function), ["__poll", "getaddrinfo", "resolve", "main"])
    }

    func testLeavesOtherStacksAlone() {
        var table = CallSiteTable(capacity: 8)
        table.insert(span: 42, frames: [frame("getaddrinfo", libc), frame("resolve", app)], now: 100)
        let callback = StackSample(frames: [frame("callback", app), frame("qsort", libc)], count: 1, pid: 1, tid: 1, comm: "x", spanID: 42)
        XCTAssertEqual(table.complete(callback), callback, "a leaf outside the library keeps its own stack")
        let unknown = StackSample(frames: [frame("__poll", libc)], count: 1, pid: 1, tid: 1, comm: "x", spanID: 7)
        XCTAssertEqual(table.complete(unknown), unknown)
        let none = StackSample(frames: [frame("__poll", libc)], count: 1, pid: 1, tid: 1, comm: "x")
        XCTAssertEqual(table.complete(none), none)
    }

    func testForgetsTheOldestBeyondCapacity() {
        var table = CallSiteTable(capacity: 4)
        for span in 1...10 as ClosedRange<UInt64> { table.insert(span: span, frames: [frame("f", libc)], now: 100) }
        XCTAssertLessThanOrEqual(table.count, 4)
        XCTAssertNotNil(table.frames(of: 10))
        XCTAssertNil(table.frames(of: 1))
    }

    func testForgetsCallSitesOlderThanTheirMaximumAge() {
        var table = CallSiteTable(capacity: 100, maximumAge: 30)
        table.insert(span: 1, frames: [frame("f", libc)], now: 100)
        table.insert(span: 2, frames: [frame("f", libc)], now: 125)
        XCTAssertNotNil(table.frames(of: 1))
        table.insert(span: 3, frames: [frame("f", libc)], now: 140)
        XCTAssertNil(table.frames(of: 1), "older than 30 s")
        XCTAssertNotNil(table.frames(of: 2))
        XCTAssertEqual(table.count, 2)
    }
}

final class DNSEventLogTests: XCTestCase {
    func event(_ host: String, milliseconds: UInt64, at time: Double) -> DNSEvent {
        DNSEvent(lookup: DNSLookup(spanID: 1, pid: 1, tid: 1, comm: "c", host: host, durationNanoseconds: milliseconds * 1_000_000,
                                   endMonotonicNanoseconds: 0, returnCode: 0), time: time, callers: [])
    }

    func testSlowestFirstWithinAgeAndCapacity() {
        var log = DNSEventLog(capacity: 3, maximumAge: 100)
        log.add([event("a", milliseconds: 5, at: 1000), event("b", milliseconds: 80, at: 1001)], now: 1001)
        log.add([event("c", milliseconds: 20, at: 1002), event("d", milliseconds: 1, at: 1003)], now: 1003)
        XCTAssertEqual(log.count, 3, "capacity")
        XCTAssertEqual(log.slowest(2).map(\.lookup.host), ["b", "c"])
        XCTAssertEqual(log.slowest(10, since: 1002).map(\.lookup.host), ["c", "d"])
        log.add([event("e", milliseconds: 2, at: 1150)], now: 1150)
        XCTAssertEqual(log.slowest(10).map(\.lookup.host), ["e"], "older than 100 s is forgotten")
    }
}

final class EventRecordTests: XCTestCase {
    func testDecodesCallSitesAndLookups() {
        var site = call_site_record()
        site.type = UInt32(EVENT_CALL_SITE.rawValue)
        site.span_id = 9
        site.pid = 100
        site.tid = 101
        site.first = 1
        site.depth = 3
        withUnsafeMutableBytes(of: &site.stack) { raw in
            let stack = raw.bindMemory(to: UInt64.self)
            (stack[0], stack[1], stack[2], stack[3], stack[4]) = (0xdead, 0x10, 0x20, 0x30, 0)
        }
        let decoded = withUnsafeBytes(of: site) { EventRecord($0) }
        XCTAssertEqual(decoded, .callSite(CallSite(spanID: 9, pid: 100, tid: 101, addresses: [0x10, 0x20, 0x30])))

        var lookup = dns_record()
        lookup.type = UInt32(EVENT_DNS_DONE.rawValue)
        lookup.ret = -2
        lookup.span_id = 5
        lookup.duration_ns = 80_000_000
        withUnsafeMutableBytes(of: &lookup.name) { raw in
            for (i, byte) in "example.org".utf8.enumerated() { raw[i] = byte }
        }
        guard case .dnsLookup(let parsed)? = withUnsafeBytes(of: lookup, { EventRecord($0) }) else { return XCTFail("not decoded") }
        XCTAssertEqual(parsed.host, "example.org")
        XCTAssertFalse(parsed.succeeded)
        XCTAssertEqual(parsed.durationNanoseconds, 80_000_000)

        XCTAssertNil(withUnsafeBytes(of: UInt32(1)) { EventRecord($0) }, "short record")
        XCTAssertNil(withUnsafeBytes(of: (UInt32(77), UInt32(0))) { EventRecord($0) }, "unknown type")
    }
}
