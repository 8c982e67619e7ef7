import Foundation

/// A function symbol as `nm -S` lists it.
public struct NMSymbol: Sendable {
    public var address: UInt64
    public var size: UInt64
    public var name: String
}

/// The reference tools our output is compared with: nm, readelf, llvm-symbolizer.
public enum ReferenceTools {
    /// Defined text symbols with a size (`nm --defined-only -S`, `-D` for .dynsym).
    public static func nmFunctions(_ path: String, dynamic: Bool = false) throws -> [NMSymbol] {
        let result = try Command.run("/usr/bin/nm", ["--defined-only", "-S"] + (dynamic ? ["-D"] : []) + [path])
        precondition(result.status == 0, "nm failed on \(path): \(result.stderr)")
        var symbols: [NMSymbol] = []
        for line in result.output.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count == 4, "TtWw".contains(fields[2]),
                  let address = UInt64(fields[0], radix: 16), let size = UInt64(fields[1], radix: 16), size > 0
            else { continue }
            symbols.append(NMSymbol(address: address, size: size, name: String(fields[3])))
        }
        return symbols
    }

    /// Function names llvm-symbolizer gives for `addresses` (demangled, "??" when unknown).
    public static func llvmSymbolizer(_ path: String, _ addresses: [UInt64], debugDirectory: String? = nil, demangle: Bool = true) throws -> [String] {
        guard let tool = TestEnvironment.which("llvm-symbolizer") else { throw ReferenceToolMissing(name: "llvm-symbolizer") }
        var arguments = ["--obj=\(path)", "--no-inlines", demangle ? "--demangle" : "--no-demangle"]
        if let debugDirectory { arguments.append("--debug-file-directory=\(debugDirectory)") }
        let input = addresses.map { "0x" + String($0, radix: 16) }.joined(separator: "\n") + "\n"
        let result = try Command.run(tool, arguments, input: Data(input.utf8))
        precondition(result.status == 0, "llvm-symbolizer failed: \(result.stderr)")
        // One block per address: "function\nfile:line:column\n\n".
        let blocks = result.output.components(separatedBy: "\n\n").filter { !$0.isEmpty }
        return blocks.map { String($0.split(separator: "\n", omittingEmptySubsequences: false).first ?? "??") }
    }

    /// The GNU build-id as `readelf -n` prints it ("" when none).
    public static func readelfBuildID(_ path: String) throws -> String {
        let result = try Command.run("/usr/bin/readelf", ["-n", path])
        for line in result.output.split(separator: "\n") where line.contains("Build ID:") {
            return String(line.split(separator: " ").last ?? "")
        }
        return ""
    }

    /// Addresses inside each symbol: first byte, middle, last byte.
    public static func probeAddresses(_ symbols: [NMSymbol]) -> [UInt64] {
        symbols.flatMap { [$0.address, $0.address + $0.size / 2, $0.address + $0.size - 1] }
    }
}

public struct ReferenceToolMissing: Error, CustomStringConvertible {
    public var name: String
    public init(name: String) { self.name = name }
    public var description: String { "\(name) not found on PATH (make setup installs it)" }
}
