import ArgumentParser
import Foundation
import Symbolizer

struct SymbolizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "symbolize",
        abstract: "Print the function at each address of an ELF file, like llvm-symbolizer.",
        discussion: """
            Addresses are hexadecimal ELF virtual addresses (with or without 0x). With none on the \
            command line they are read from standard input, whitespace-separated. One line is printed \
            per address: the demangled function name, or ?? when no symbol covers it. Symbols come from \
            .symtab, else Go's function table (.gopclntab, for stripped Go binaries), else a separate \
            debug file (by build-id or .gnu_debuglink), else .dynsym. With --lines, a second line per \
            address gives file:line as go tool addr2line prints it (Go binaries; ??:0 elsewhere). \
            With --kernel, kernel addresses are named from /proc/kallsyms, read again when the \
            module list changes, as the agent does.
            """
    )

    @Option(help: "The ELF executable or shared library.")
    var elf: String?

    @Flag(help: "Name kernel addresses from /proc/kallsyms instead (read again when modules are loaded, like the agent does).")
    var kernel = false

    @Option(help: "Separate debug-file directory (repeatable).")
    var debugDir: [String] = ["/usr/lib/debug"]

    @Flag(help: "Print names as found in the symbol table.")
    var noDemangle = false

    @Flag(help: "Swift names as the Swift runtime prints them instead of `swift demangle --simplified`'s short form.")
    var fullSwiftNames = false

    @Flag(help: "After each name, print the source file:line (Go binaries: the innermost inlined call's).")
    var lines = false

    @Argument(help: "Hexadecimal addresses.")
    var addresses: [String] = []

    func validate() throws {
        guard (elf != nil) != kernel else { throw ValidationError("give either --elf FILE or --kernel") }
    }

    func run() throws {
        signal(SIGPIPE, SIG_IGN)
        guard let elf else { return symbolizeKernel() }
        let cache = BinaryCache(debugFiles: DebugFileLocator(directories: debugDir), swiftNames: fullSwiftNames ? .full : .simplified)
        let binary: LoadedBinary
        switch cache.load(path: elf) {
        case .success(let loaded): binary = loaded
        case .failure(let error):
            printError("profiler-agent: error: \(elf): \(error)")
            throw ExitCode.failure
        }
        var output = SymbolizedLines(binary: binary, demangle: !noDemangle, sourceLines: lines)
        if !addresses.isEmpty {
            for token in addresses { output.emit(HexAddress.parse(Array(token.utf8)[...])) }
        } else {
            var reader = StandardInputTokens()
            while let chunk = reader.next() {
                for address in chunk { output.emit(address) }
                output.out.flush()
            }
        }
        output.out.flush()
    }

    /// Kernel addresses through the agent's kernel symbols; each chunk of input is answered
    /// before the next is read, so a long-lived caller sees modules loaded meanwhile.
    func symbolizeKernel() {
        let symbolizer = Symbolizer()
        var out = OutputBuffer()
        let name = { (address: UInt64?) in address.flatMap { symbolizer.kernel.lookup($0) }.map { Array($0.utf8)[...] } ?? Self.unknown[...] }
        if !addresses.isEmpty {
            for token in addresses { out.line(name(HexAddress.parse(Array(token.utf8)[...]))) }
        } else {
            var reader = StandardInputTokens()
            while let chunk = reader.next() {
                for address in chunk { out.line(name(address)) }
                out.flush()
            }
        }
        out.flush()
    }

    static let unknown = Array("??".utf8)
    static let unknownLine = Array("??:0".utf8)
}

/// Hexadecimal addresses, with or without 0x, parsed from bytes.
enum HexAddress {
    static func parse(_ token: ArraySlice<UInt8>) -> UInt64? {
        var digits = token
        if digits.count > 2, digits[digits.startIndex] == 0x30, digits[digits.startIndex + 1] | 0x20 == 0x78 { digits = digits.dropFirst(2) }
        guard !digits.isEmpty, digits.count <= 16 else { return nil }
        var value: UInt64 = 0
        for byte in digits {
            let digit: UInt8
            switch byte {
            case 0x30...0x39: digit = byte - 0x30
            case 0x61...0x66: digit = byte - 0x61 + 10
            case 0x41...0x46: digit = byte - 0x41 + 10
            default: return nil
            }
            value = value << 4 | UInt64(digit)
        }
        return value
    }
}

/// One output line per address; each function's line is built once, by its start address.
struct SymbolizedLines {
    let binary: LoadedBinary
    let demangle: Bool
    /// Whether a file:line line follows each name.
    let sourceLines: Bool
    var out = OutputBuffer()
    /// Line bytes in `text`, by function start: (offset, length).
    private var known: [UInt64: (offset: Int, length: Int)] = [:]
    private var text: [UInt8] = []

    init(binary: LoadedBinary, demangle: Bool, sourceLines: Bool = false) {
        self.binary = binary
        self.demangle = demangle
        self.sourceLines = sourceLines
    }

    mutating func emit(_ address: UInt64?) {
        emitName(address)
        guard sourceLines else { return }
        guard let address, let inner = binary.goFrames(at: address).first, !inner.file.isEmpty else {
            return out.line(SymbolizeCommand.unknownLine[...])
        }
        out.line(Array("\(inner.file):\(inner.line)".utf8)[...])
    }

    private mutating func emitName(_ address: UInt64?) {
        guard let address, let start = binary.functionStart(at: address) else { return out.line(SymbolizeCommand.unknown[...]) }
        let range: (offset: Int, length: Int)
        if let line = known[start] {
            range = line
        } else {
            let name = (demangle ? binary.function(at: address)?.name : binary.systemName(at: address)) ?? "??"
            range = (text.count, name.utf8.count)
            text.append(contentsOf: name.utf8)
            known[start] = range
        }
        out.line(text[range.offset..<range.offset + range.length])
    }
}

/// Buffered writes to standard output.
struct OutputBuffer {
    private var bytes: [UInt8] = []

    mutating func line(_ text: ArraySlice<UInt8>) {
        bytes.append(contentsOf: text)
        bytes.append(0x0a)
        if bytes.count >= 1 << 16 { flush() }
    }

    mutating func flush() {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }  // reader went away
            offset += n
        }
        bytes.removeAll(keepingCapacity: true)
    }
}

/// Whitespace-separated addresses from standard input, a read() at a time
/// (nil for a token that is not a hexadecimal address).
struct StandardInputTokens {
    private var pending: [UInt8] = []
    private var done = false

    mutating func next() -> [UInt64?]? {
        guard !done else { return nil }
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var n: Int
        repeat { n = chunk.withUnsafeMutableBytes { read(STDIN_FILENO, $0.baseAddress, $0.count) } } while n < 0 && errno == EINTR
        if n <= 0 {
            done = true
            defer { pending = [] }
            return Self.addresses(pending[...])
        }
        pending.append(contentsOf: chunk[0..<n])
        // Keep a trailing partial token for the next read.
        var cut = pending.count
        while cut > 0, !Self.isSpace(pending[cut - 1]) { cut -= 1 }
        defer { pending.removeFirst(cut) }
        return Self.addresses(pending[0..<cut])
    }

    static func addresses(_ bytes: ArraySlice<UInt8>) -> [UInt64?] {
        bytes.split(whereSeparator: isSpace).map(HexAddress.parse)
    }

    static func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x0a || byte == 0x09 || byte == 0x0d || byte == 0x0b || byte == 0x0c }
}
