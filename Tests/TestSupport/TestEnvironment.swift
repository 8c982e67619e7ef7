import Foundation

/// Paths and process helpers shared by the test targets.
public enum TestEnvironment {
    /// The package root (this file is Tests/TestSupport/TestEnvironment.swift).
    public static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Fixture binaries built by `make fixtures` (override with $FIXTURES).
    public static var fixtures: URL {
        if let path = ProcessInfo.processInfo.environment["FIXTURES"] { return URL(fileURLWithPath: path) }
        return packageRoot.appendingPathComponent(".build/fixtures")
    }

    public static func fixture(_ name: String) -> String { fixtures.appendingPathComponent(name).path }

    /// The release agent built by `make build` (override with $PROFILER_AGENT).
    public static var agent: String {
        ProcessInfo.processInfo.environment["PROFILER_AGENT"]
            ?? packageRoot.appendingPathComponent(".build/release/profiler-agent").path
    }

    /// Finds an executable on PATH (or nil).
    public static func which(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// A fresh temporary directory.
    public static func temporaryDirectory() -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("profiler-agent-tests-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// The result of a finished command.
public struct CommandResult: Sendable {
    public var status: Int32
    /// True when the process ended by a signal (a crash, for our binaries).
    public var killedBySignal: Bool
    public var stdout: Data
    public var stderr: String
    public var output: String { String(decoding: stdout, as: UTF8.self) }
}

/// Runs commands and background processes for tests.
public enum Command {
    /// Runs `executable` with `arguments` to completion, feeding `input` to stdin.
    /// `started` gets the pid once it runs; `finished` is called once it has been reaped.
    @discardableResult
    public static func run(_ executable: String, _ arguments: [String], input: Data? = nil, environment: [String: String]? = nil,
                           started: (Int32) -> Void = { _ in }, finished: () -> Void = {}) throws -> CommandResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let out = Pipe(), err = Pipe(), inPipe = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input == nil ? FileHandle.nullDevice : inPipe
        try process.run()
        started(process.processIdentifier)
        if let input {
            DispatchQueue.global().async {
                try? inPipe.fileHandleForWriting.write(contentsOf: input)
                try? inPipe.fileHandleForWriting.close()
            }
        }
        // Read both pipes concurrently so neither fills up.
        let errData = LockedBox<Data>(Data())
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            errData.set(err.fileHandleForReading.readDataToEndOfFile())
            group.leave()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        finished()
        return CommandResult(
            status: process.terminationStatus,
            killedBySignal: process.terminationReason == .uncaughtSignal,
            stdout: outData, stderr: String(decoding: errData.get(), as: UTF8.self))
    }

    /// Starts a background process (stdout/stderr discarded); terminate it when done.
    public static func start(_ executable: String, _ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }
}

/// A tiny lock-protected box for test plumbing.
public final class LockedBox<T>: @unchecked Sendable {
    private var value: T
    private let lock = NSLock()
    public init(_ value: T) { self.value = value }
    public func get() -> T { lock.lock(); defer { lock.unlock() }; return value }
    public func set(_ newValue: T) { lock.lock(); value = newValue; lock.unlock() }
    /// Read-modify-write under the lock.
    public func update(_ body: (inout T) -> Void) { lock.lock(); body(&value); lock.unlock() }
}
