import Foundation

/// `Fixtures/go_chain.go` built with Debian's Go toolchain (golang-go) in the test's
/// scratch directory: as most Go images ship it (`-ldflags="-s -w"`: no .symtab, no
/// DWARF) and as an unstripped twin for the reference tools.
public enum GoFixture {
    public static var source: String { TestEnvironment.packageRoot.appendingPathComponent("Fixtures/go_chain.go").path }

    /// The `go` command, or an error saying how to install it.
    public static func go() throws -> String {
        guard let go = TestEnvironment.which("go") else { throw ReferenceToolMissing(name: "go (apt-get install golang-go)") }
        return go
    }

    /// Builds the fixture as `directory/name` with `flags` (e.g. ["-ldflags=-s -w"]); returns its path.
    public static func build(_ name: String, in directory: URL, flags: [String] = []) throws -> String {
        let output = directory.appendingPathComponent(name).path
        let result = try Command.run(try go(), ["build", "-o", output] + flags + [source], environment: environment(directory))
        guard result.status == 0 else { throw GoBuildFailed(output: result.stderr) }
        return output
    }

    /// Runs `go tool <arguments>`.
    public static func tool(_ arguments: [String], in directory: URL, input: Data? = nil) throws -> CommandResult {
        try Command.run(try go(), ["tool"] + arguments, input: input, environment: environment(directory))
    }

    /// A build cache of the test's own (nothing shared between runs), GOPATH mode for one file.
    static func environment(_ directory: URL) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["GOCACHE"] = directory.appendingPathComponent("go-cache").path
        environment["GOPATH"] = directory.appendingPathComponent("go-path").path
        environment["GO111MODULE"] = "off"
        environment["GOFLAGS"] = ""
        environment["CGO_ENABLED"] = "0"
        return environment
    }

    /// `go tool nm -size` text symbols of `path` with a size.
    public static func functions(_ path: String, in directory: URL) throws -> [NMSymbol] {
        let result = try tool(["nm", "-size", "-sort", "address", path], in: directory)
        precondition(result.status == 0, "go tool nm failed: \(result.stderr)")
        return result.output.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 4, fields[2] == "T", let address = UInt64(fields[0], radix: 16), let size = UInt64(fields[1]), size > 0 else { return nil }
            return NMSymbol(address: address, size: size, name: fields[3...].joined(separator: " "))
        }
    }

    /// A copy of the ELF at `path` with its section headers gone (e_shoff, e_shnum,
    /// e_shstrndx zeroed), as `sstrip` leaves a binary: only segments remain.
    public static func withoutSectionHeaders(_ path: String, as copy: String) throws -> String {
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes.replaceSubrange(40..<48, with: [UInt8](repeating: 0, count: 8))
        bytes.replaceSubrange(60..<64, with: [0, 0, 0, 0])
        try bytes.write(to: URL(fileURLWithPath: copy))
        chmod(copy, 0o755)
        return copy
    }
}

public struct GoBuildFailed: Error, CustomStringConvertible {
    public var output: String
    public var description: String { "go build failed:\n\(output)" }
}
