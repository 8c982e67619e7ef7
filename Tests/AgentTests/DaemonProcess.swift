import Foundation
import TestSupport
import XCTest

/// A running `profiler-agent run` on an ephemeral loopback port.
final class DaemonProcess {
    let process: Process
    let port: Int
    private let errors: LockedBox<String>

    /// Starts the daemon with `arguments` (plus `--listen 127.0.0.1:0`) and waits until it serves;
    /// `launcher` runs it through another program (e.g. setpriv with a capability set).
    init(_ arguments: [String], environment: [String: String]? = nil, launcher: [String] = []) throws {
        process = Process()
        let command = launcher + [TestEnvironment.agent, "run", "--listen", "127.0.0.1:0"] + arguments
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let pipe = Pipe()
        process.standardError = pipe
        process.standardOutput = FileHandle.nullDevice
        let errors = LockedBox("")
        self.errors = errors
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if !data.isEmpty { errors.set(errors.get() + String(decoding: data, as: UTF8.self)) }
        }
        try process.run()
        let watch = BPFObjectWatch.start(pid: process.processIdentifier)
        var found: Int?
        for _ in 0..<200 where found == nil && process.isRunning {
            Thread.sleep(forTimeInterval: 0.05)
            if let range = errors.get().range(of: "serving http://127.0.0.1:") {
                found = Int(errors.get()[range.upperBound...].prefix { $0.isNumber })
            }
        }
        guard let found else {
            if process.isRunning { process.terminate() }
            throw DaemonFailed(message: "the agent did not start serving: \(errors.get())")
        }
        port = found
        watch.mustHaveSeenPrograms = true  // serving: sampling is attached
    }

    deinit {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    var stderr: String { errors.get() }

    struct DaemonFailed: Error, CustomStringConvertible { var message: String; var description: String { message } }

    /// An HTTP GET through curl (or another request, with `curlOptions` such as
    /// `["--data", "x"]`): status, headers (lowercased names), body.
    func get(_ path: String, accept: String? = nil, curlOptions: [String] = []) throws -> (status: Int, headers: [String: String], body: Data) {
        let directory = TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let body = directory.appendingPathComponent("body"), headers = directory.appendingPathComponent("headers")
        var arguments = ["-s", "-S", "--max-time", "90", "-o", body.path, "-D", headers.path, "-w", "%{http_code}"]
        if let accept { arguments += ["-H", "Accept: \(accept)"] }
        arguments += curlOptions
        let result = try Command.run("/usr/bin/curl", arguments + ["http://127.0.0.1:\(port)\(path)"])
        guard result.status == 0, let status = Int(result.output) else {
            throw DaemonFailed(message: "curl \(path) failed: \(result.stderr)")
        }
        var fields: [String: String] = [:]
        for line in (try String(contentsOf: headers, encoding: .utf8)).split(separator: "\r\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return (status, fields, (try? Data(contentsOf: body)) ?? Data())
    }

    func getText(_ path: String, accept: String? = nil) throws -> String {
        String(decoding: try get(path, accept: accept).body, as: UTF8.self)
    }

    /// Sends SIGTERM and returns (exit status, seconds until exit).
    func terminate() -> (status: Int32, seconds: Double) {
        let start = Date()
        process.terminate()
        process.waitUntilExit()
        return (process.terminationStatus, Date().timeIntervalSince(start))
    }

    /// The value of an unlabelled sample (or one with exactly these labels) in a text exposition.
    static func metric(_ name: String, in text: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(name + " ") {
            return Double(line.split(separator: " ")[1])
        }
        return nil
    }
}
