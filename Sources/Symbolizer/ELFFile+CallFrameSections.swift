/// The call-frame information of one ELF image, as bytes with their addresses.
struct CallFrameSections: Sendable {
    /// `.eh_frame` bytes and the virtual address of their first byte.
    var ehFrame: (bytes: [UInt8], address: UInt64)?
    /// `.eh_frame_hdr` address (the base of `datarel` pointers).
    var ehFrameHdrAddress: UInt64?
    /// `.text` address (the base of `textrel` pointers).
    var textAddress: UInt64?
    /// `.debug_frame` bytes (addresses in it are absolute).
    var debugFrame: [UInt8]?
    /// Sections present but not read, with why (e.g. compressed `.debug_frame`).
    var skipped: [String] = []
}

extension ELFFile {
    /// A program header (only the fields unwinding needs).
    struct ProgramHeader: Sendable {
        var type: UInt32
        var fileOffset: UInt64
        var virtualAddress: UInt64
        var fileSize: UInt64
    }

    static let programGNUEHFrame: UInt32 = 0x6474_e550
    /// Largest `.eh_frame` / `.debug_frame` read (bounds memory on hostile files).
    static let maximumCallFrameBytes: UInt64 = 256 << 20

    /// Every program header, read again through the `ByteSource` (`ELFFile` keeps only PT_LOAD).
    func programHeaders() throws(ELFError) -> [ProgramHeader] {
        var header = DWARFReader(try Self.readRange(source, offset: 0, size: min(64, source.size), what: "ELF header"))
        let offset: UInt64, entrySize: Int, count: Int
        do throws(FDERejection) {
            try header.skip(32)
            offset = try header.u64()
            try header.skip(54 - 40)
            entrySize = Int(try header.u16())
            count = Int(try header.u16())
        } catch {
            throw .truncated("ELF header shorter than 64 bytes")
        }
        guard count > 0 else { return [] }
        guard entrySize >= 56 else { throw .malformed("program header size \(entrySize) < 56") }
        let table = try Self.readTable(source, offset: offset, count: count, entrySize: entrySize, what: "program headers")
        var headers: [ProgramHeader] = []
        for i in 0..<count {
            var entry = DWARFReader(table, start: i * entrySize, end: i * entrySize + 56)
            do throws(FDERejection) {
                let type = try entry.u32()
                try entry.skip(4)
                let fileOffset = try entry.u64(), virtualAddress = try entry.u64()
                try entry.skip(8)
                headers.append(ProgramHeader(type: type, fileOffset: fileOffset, virtualAddress: virtualAddress, fileSize: try entry.u64()))
            } catch {
                throw .truncated("program header \(i)")
            }
        }
        return headers
    }

    /// Finds `.eh_frame` (by section header, else through `PT_GNU_EH_FRAME` →
    /// `.eh_frame_hdr` → `eh_frame_ptr`) and `.debug_frame`.
    func callFrameSections() throws(ELFError) -> CallFrameSections {
        var found = CallFrameSections()
        let usable = sections.filter { $0.type != Self.sectionNobits && $0.size > 0 }
        found.textAddress = usable.first { $0.name == ".text" }?.address
        found.ehFrameHdrAddress = usable.first { $0.name == ".eh_frame_hdr" }?.address
        if let eh = usable.first(where: { $0.name == ".eh_frame" }) {
            found.ehFrame = (try readCallFrameBytes(offset: eh.offset, size: eh.size, what: ".eh_frame"), eh.address)
        } else if let header = try programHeaders().first(where: { $0.type == Self.programGNUEHFrame }) {
            found.ehFrameHdrAddress = header.virtualAddress
            found.ehFrame = try ehFrameThroughHeader(header)
        }
        if let debug = usable.first(where: { $0.name == ".debug_frame" }) {
            if debug.flags & 0x800 != 0 {  // SHF_COMPRESSED
                found.skipped.append(".debug_frame is compressed")
            } else {
                found.debugFrame = try readCallFrameBytes(offset: debug.offset, size: debug.size, what: ".debug_frame")
            }
        }
        return found
    }

    private func readCallFrameBytes(offset: UInt64, size: UInt64, what: String) throws(ELFError) -> [UInt8] {
        guard size <= Self.maximumCallFrameBytes else {
            throw .unsupported("\(what) larger than \(Self.maximumCallFrameBytes >> 20) MiB")
        }
        return try Self.readRange(source, offset: offset, size: size, what: what)
    }

    /// `.eh_frame` from `.eh_frame_hdr`'s `eh_frame_ptr`: it runs to its zero
    /// terminator, at most to the end of the loaded segment holding it.
    private func ehFrameThroughHeader(_ header: ProgramHeader) throws(ELFError) -> (bytes: [UInt8], address: UInt64)? {
        guard header.fileSize >= 8 else { return nil }
        var reader = DWARFReader(try Self.readRange(source, offset: header.fileOffset, size: min(header.fileSize, 16), what: ".eh_frame_hdr"))
        let address: UInt64
        do throws(FDERejection) {
            guard try reader.u8() == 1 else { return nil }  // version
            let encoding = try reader.u8()
            try reader.skip(2)
            address = try PointerEncoding.read(&reader, encoding: encoding, bases: .init(section: header.virtualAddress, text: nil, data: header.virtualAddress))
        } catch {
            return nil
        }
        guard let offset = fileOffset(forVirtualAddress: address),
              let segment = segments.first(where: { address >= $0.virtualAddress && address - $0.virtualAddress < $0.fileSize })
        else { return nil }
        let size = segment.fileSize - (address - segment.virtualAddress)
        guard offset <= source.size else { return nil }
        return (try readCallFrameBytes(offset: offset, size: min(size, source.size - offset, Self.maximumCallFrameBytes), what: ".eh_frame"), address)
    }
}
