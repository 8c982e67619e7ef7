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
            .symtab, else a separate debug file (by build-id or .gnu_debuglink), else .dynsym.
            """
    )

    @Option(help: "The ELF executable or shared library.")
    var elf: String

    @Option(help: "Separate debug-file directory (repeatable).")
    var debugDir: [String] = ["/usr/lib/debug"]

    @Flag(help: "Print names as found in the symbol table.")
    var noDemangle = false

    @Argument(help: "Hexadecimal addresses.")
    var addresses: [String] = []

    func run() throws {
        signal(SIGPIPE, SIG_IGN)
        let cache = BinaryCache(debugFiles: DebugFileLocator(directories: debugDir))
        let binary: LoadedBinary
        switch cache.load(path: elf) {
        case .success(let loaded): binary = loaded
        case .failure(let error):
            printError("profiler-agent: error: \(elf): \(error)")
            throw ExitCode.failure
        }
        var out = OutputBuffer()
        if !addresses.isEmpty {
            for token in addresses { out.line(name(token, binary)) }
        } else {
            var reader = StandardInputTokens()
            while let chunk = reader.next() {
                for token in chunk { out.line(name(token, binary)) }
                out.flush()
            }
        }
        out.flush()
    }

    private func name<S: StringProtocol>(_ token: S, _ binary: LoadedBinary) -> String {
        var digits = Substring(token)
        if digits.hasPrefix("0x") || digits.hasPrefix("0X") { digits = digits.dropFirst(2) }
        guard let address = UInt64(digits, radix: 16), let function = binary.function(at: address) else { return "??" }
        return noDemangle ? function.systemName : function.name
    }
}

/// Buffered writes to standard output.
struct OutputBuffer {
    private var bytes: [UInt8] = []

    mutating func line(_ text: String) {
        bytes.append(contentsOf: text.utf8)
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

/// Whitespace-separated tokens from standard input, a read() at a time.
struct StandardInputTokens {
    private var pending: [UInt8] = []
    private var done = false

    mutating func next() -> [Substring]? {
        guard !done else { return nil }
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var n: Int
        repeat { n = chunk.withUnsafeMutableBytes { read(STDIN_FILENO, $0.baseAddress, $0.count) } } while n < 0 && errno == EINTR
        if n <= 0 {
            done = true
            let rest = String(decoding: pending, as: UTF8.self)
            pending = []
            return rest.split(whereSeparator: \.isWhitespace)
        }
        pending.append(contentsOf: chunk[0..<n])
        // Keep a trailing partial token for the next read.
        var cut = pending.count
        while cut > 0, !isSpace(pending[cut - 1]) { cut -= 1 }
        let text = String(decoding: pending[0..<cut], as: UTF8.self)
        pending.removeFirst(cut)
        return text.split(whereSeparator: \.isWhitespace)
    }

    private func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x0a || byte == 0x09 || byte == 0x0d }
}
