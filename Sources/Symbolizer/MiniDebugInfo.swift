import CLZMA

/// MiniDebugInfo (`.gnu_debugdata`, as Fedora, RHEL and CentOS ship their binaries): an
/// xz-compressed ELF image whose `.symtab` holds the function symbols `.dynsym` lacks
/// (the static ones), so a stripped binary still names all its functions.
///
/// The section is untrusted: its compressed size, the decoder's memory and the
/// decompressed size are bounded (a decompression bomb stops at the bound and the
/// binary falls back to `.dynsym`), and the image is parsed like any ELF file.
public enum MiniDebugInfo {
    /// Largest `.gnu_debugdata` section read (Fedora's are tens to hundreds of KiB).
    public static let maximumCompressedBytes: UInt64 = 32 << 20
    /// Largest decompressed image accepted.
    public static let maximumImageBytes = 128 << 20
    /// Memory the xz decoder may use (its dictionary; xz -9 needs 65 MiB).
    static let decoderMemoryLimit: UInt64 = 96 << 20

    /// The function symbols of `elf`'s MiniDebugInfo, nil when it has none or it is unusable.
    public static func symbols(of elf: ELFFile) -> SymbolTable? {
        guard let section = elf.sections.first(where: { $0.name == ".gnu_debugdata" && $0.type != ELFFile.sectionNobits }),
              section.size > 0, section.size <= maximumCompressedBytes,
              let compressed = try? elf.source.read(offset: section.offset, count: Int(section.size)),
              let image = decompress(compressed),
              let inner = try? ELFFile(source: MemoryByteSource(image)), inner.hasSymtab,
              let table = try? inner.functionSymbols(), table.count > 0 else { return nil }
        return table
    }

    /// The xz stream's content, nil when it is malformed, truncated or larger than `limit`.
    public static func decompress(_ bytes: [UInt8], limit: Int = maximumImageBytes) -> [UInt8]? {
        var stream = lzma_stream()
        guard lzma_stream_decoder(&stream, decoderMemoryLimit, 0) == LZMA_OK else { return nil }
        defer { lzma_end(&stream) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        return bytes.withUnsafeBufferPointer { input -> [UInt8]? in
            stream.next_in = input.baseAddress
            stream.avail_in = input.count
            while true {
                let result = chunk.withUnsafeMutableBufferPointer { buffer -> lzma_ret in
                    stream.next_out = buffer.baseAddress
                    stream.avail_out = buffer.count
                    return lzma_code(&stream, LZMA_FINISH)
                }
                let produced = chunk.count - stream.avail_out
                guard out.count + produced <= limit else { return nil }
                out += chunk[0..<produced]
                switch result {
                case LZMA_STREAM_END: return out
                case LZMA_OK: if produced == 0 && stream.avail_in == 0 { return nil }
                default: return nil
                }
            }
        }
    }
}
