import Foundation
import TestSupport
import XCTest

/// The DNS test set-up: a delaying responder on a loopback address, and the
/// `dns_lookup` fixture run in its own mount namespace as in a container — its
/// own resolv.conf/nsswitch.conf pointing at the responder, and its own copy of
/// libc (a file the agent has never seen, found only through /proc/PID/root).
struct DNSFixture {
    let address: String
    let root: URL
    let libc: String

    /// Starts the responder (answers after `delay` ms) and prepares the container files.
    init(test: AgentTestCase, address: String = "127.0.0.77", delay: Int = 80) throws {
        self.address = address
        let script = TestEnvironment.packageRoot.appendingPathComponent("Fixtures/dns_responder.py").path
        let responder = try Command.start("/usr/bin/python3", [script, address, "53", String(delay)])
        // Executable copy of libc on a real disk (/tmp may be noexec).
        let root = TestEnvironment.packageRoot.appendingPathComponent(".build/dns-test-\(UUID().uuidString)")
        self.root = root
        test.addTeardownBlock {
            responder.terminate()
            responder.waitUntilExit()
            try? FileManager.default.removeItem(at: root)
        }
        // Bound when /proc/net/udp lists ADDRESS:53 (hex, little-endian address).
        let hex = address.split(separator: ".").reversed().map { String(format: "%02X", Int($0)!) }.joined() + ":0035"
        var bound = false
        for _ in 0..<50 where !bound {
            bound = (try? String(contentsOfFile: "/proc/net/udp", encoding: .utf8))?.contains(hex) == true
            if !bound { Thread.sleep(forTimeInterval: 0.1) }
        }
        XCTAssertTrue(bound, "the DNS responder did not bind \(address):53")

        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try "nameserver \(address)\noptions timeout:2 attempts:1\n".write(to: root.appendingPathComponent("resolv.conf"), atomically: true, encoding: .utf8)
        try "hosts: files dns\n".write(to: root.appendingPathComponent("nsswitch.conf"), atomically: true, encoding: .utf8)
        let maps = String(decoding: try Data(contentsOf: URL(fileURLWithPath: "/proc/self/maps")), as: UTF8.self)
        let line = try XCTUnwrap(maps.split(separator: "\n").first { $0.hasSuffix("/libc.so.6") }, "no libc.so.6 in /proc/self/maps")
        libc = String(line[line.firstIndex(of: "/")!...])
        try FileManager.default.copyItem(atPath: libc, toPath: root.appendingPathComponent("libc.so.6").path)
    }

    /// Runs `dns_lookup COUNT PREFIX START_DELAY_MS END_DELAY_MS` in the "container".
    func lookup(_ count: Int, prefix: String, startDelay: Int = 2000, endDelay: Int = 1500) throws -> CommandResult {
        try Command.run("/usr/bin/unshare", arguments(count, prefix, startDelay, endDelay))
    }

    /// Starts the same in the background.
    func startLookups(_ count: Int, prefix: String, startDelay: Int = 2000, endDelay: Int = 1500) throws -> Process {
        try Command.start("/usr/bin/unshare", arguments(count, prefix, startDelay, endDelay))
    }

    /// Runs `command` (words joined by spaces, for the shell) in the "container".
    func run(_ command: [String]) throws -> CommandResult {
        try Command.run("/usr/bin/unshare", inContainer(command))
    }

    private func arguments(_ count: Int, _ prefix: String, _ startDelay: Int, _ endDelay: Int) -> [String] {
        inContainer([TestEnvironment.fixture("dns_lookup"), String(count), prefix, String(startDelay), String(endDelay)])
    }

    private func inContainer(_ command: [String]) -> [String] {
        ["--mount", "/bin/sh", "-c", """
            mount --bind \(root.path)/resolv.conf /etc/resolv.conf && mount --bind \(root.path)/nsswitch.conf /etc/nsswitch.conf \
            && mount --bind \(root.path)/libc.so.6 \(libc) && exec \(command.joined(separator: " "))
            """]
    }
}
