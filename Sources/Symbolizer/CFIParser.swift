/// A Common Information Entry: what every FDE pointing at it shares.
struct CommonInformationEntry: Sendable {
    var codeAlignment: UInt64
    var dataAlignment: Int64
    var returnAddressRegister: UInt64
    /// Encoding of the FDEs' `pc_begin` (and `DW_CFA_set_loc`); absptr in `.debug_frame`.
    var pointerEncoding: UInt8
    /// Augmentation `z`: each FDE has an augmentation data length to skip.
    var hasAugmentationData: Bool
    /// Augmentation `S`: the FDEs describe signal trampolines.
    var isSignalFrame: Bool
    /// Indices (into the section bytes) of the initial instructions.
    var initialInstructions: Range<Int>
    /// The state they set up (every FDE of this CIE starts from it).
    var initialState = CFAState()
}

/// A Frame Description Entry with its range resolved.
struct FrameDescriptionEntry: Sendable {
    /// Offset of the entry in its section.
    var offset: Int
    var start: UInt64
    var end: UInt64
    /// Indices (into the section bytes) of the CFA program.
    var instructions: Range<Int>
}

/// A `.eh_frame` or `.debug_frame` section: walks its entries and parses CIEs
/// and FDEs (DWARF 5 §6.4.1, LSB 5.0 §10.6.1). A bad FDE or CIE is reported and
/// skipped; only an entry whose length runs past the section ends the walk.
struct CFISection {
    enum Format: Sendable { case ehFrame, debugFrame }

    let bytes: [UInt8]
    let format: Format
    let bases: PointerEncoding.Bases

    /// Most CIEs remembered (hostile sections may hold millions).
    static let maximumCIEs = 4096

    /// Calls `body` with each FDE and its CIE, or with why it was rejected.
    func forEachFDE(_ body: (Result<(FrameDescriptionEntry, CommonInformationEntry), FDERejection>) -> Void) {
        var cies: [Int: Result<CommonInformationEntry, FDERejection>] = [:]
        var offset = 0
        while offset < bytes.count {
            let header: EntryHeader
            do throws(FDERejection) {
                header = try entryHeader(at: offset)
            } catch {
                body(.failure(error))  // the rest of the section cannot be walked
                return
            }
            defer { offset = header.end }
            if header.length == 0 {
                if format == .ehFrame { return }  // the zero terminator
                continue
            }
            if header.isCIE { continue }
            let cie: Result<CommonInformationEntry, FDERejection>
            if let known = cies[header.cieOffset] {
                cie = known
            } else {
                cie = Result { () throws(FDERejection) in
                    var cie = try parseCIE(at: header.cieOffset)
                    cie.initialState = try CFAProgram(section: self, cie: cie).initialState()
                    return cie
                }
                if cies.count < Self.maximumCIEs { cies[header.cieOffset] = cie }
            }
            switch cie {
            case .failure(let error): body(.failure(error))
            case .success(let cie):
                body(Result { () throws(FDERejection) in (try parseFDE(header, cie: cie), cie) })
            }
        }
    }

    struct EntryHeader {
        var offset: Int
        var length: UInt64
        /// One past the entry's last byte.
        var end: Int
        /// Index of the first byte after the CIE id / CIE pointer.
        var body: Int
        var isCIE: Bool
        var cieOffset: Int
        var is64Bit: Bool
    }

    func entryHeader(at offset: Int) throws(FDERejection) -> EntryHeader {
        var reader = DWARFReader(bytes, start: offset)
        var length = UInt64(try reader.u32())
        var is64Bit = false
        if length == 0xffff_ffff {
            length = try reader.u64()
            is64Bit = true
        }
        let lengthEnd = reader.position
        guard length <= UInt64(reader.remaining) else { throw .truncated }
        let end = lengthEnd + Int(length)
        if length == 0 {
            return EntryHeader(offset: offset, length: 0, end: end, body: end, isCIE: false, cieOffset: 0, is64Bit: is64Bit)
        }
        var entry = DWARFReader(bytes, start: lengthEnd, end: end)
        let idAt = entry.position
        let isCIE: Bool
        var cieOffset = 0
        switch format {
        case .ehFrame:
            let id = UInt64(try entry.u32())
            isCIE = id == 0
            if !isCIE {
                guard id <= UInt64(idAt) else { throw .missingCIE }
                cieOffset = idAt - Int(id)
            }
        case .debugFrame:
            let id = is64Bit ? try entry.u64() : UInt64(try entry.u32())
            isCIE = id == (is64Bit ? UInt64.max : 0xffff_ffff)
            if !isCIE {
                guard id < UInt64(bytes.count) else { throw .missingCIE }
                cieOffset = Int(id)
            }
        }
        return EntryHeader(offset: offset, length: length, end: end, body: entry.position, isCIE: isCIE,
                           cieOffset: cieOffset, is64Bit: is64Bit)
    }

    func parseCIE(at offset: Int) throws(FDERejection) -> CommonInformationEntry {
        let header = try entryHeader(at: offset)
        guard header.length > 0, header.isCIE else { throw .missingCIE }
        var reader = DWARFReader(bytes, start: header.body, end: header.end)
        let version = try reader.u8()
        guard version == 1 || version == 3 || version == 4 else { throw .cieVersion(version) }
        let augmentation = try reader.cString()
        let text = String(decoding: augmentation, as: UTF8.self)
        if augmentation.starts(with: Array("eh".utf8)) {
            try reader.skip(8)  // old GCC: the address of the exception table
        }
        if version == 4 {
            let addressSize = try reader.u8(), segmentSize = try reader.u8()
            guard addressSize == 8, segmentSize == 0 else { throw .cieVersion(version) }
        }
        let codeAlignment = try reader.uleb128()
        let dataAlignment = try reader.sleb128()
        let returnAddressRegister = version == 1 ? UInt64(try reader.u8()) : try reader.uleb128()
        guard codeAlignment != 0 else { throw .malformed }

        var cie = CommonInformationEntry(
            codeAlignment: codeAlignment, dataAlignment: dataAlignment, returnAddressRegister: returnAddressRegister,
            pointerEncoding: 0, hasAugmentationData: false, isSignalFrame: false, initialInstructions: 0..<0)
        if augmentation.first == UInt8(ascii: "z") {
            cie.hasAugmentationData = true
            let length = try reader.uleb128()
            let data = try reader.block(length)
            var augmentationReader = DWARFReader(bytes, start: data.lowerBound, end: data.upperBound)
            for character in augmentation.dropFirst() {
                switch character {
                case UInt8(ascii: "R"): cie.pointerEncoding = try augmentationReader.u8()
                case UInt8(ascii: "L"): _ = try augmentationReader.u8()  // the FDEs' LSDA encoding
                case UInt8(ascii: "P"):
                    let encoding = try augmentationReader.u8()
                    try PointerEncoding.skip(&augmentationReader, encoding: encoding, bases: bases)
                case UInt8(ascii: "S"): cie.isSignalFrame = true
                default: throw .augmentation(text)
                }
            }
        } else if !(augmentation.isEmpty || text == "eh") {
            throw .augmentation(text)
        }
        cie.initialInstructions = reader.position..<header.end
        return cie
    }

    func parseFDE(_ header: EntryHeader, cie: CommonInformationEntry) throws(FDERejection) -> FrameDescriptionEntry {
        var reader = DWARFReader(bytes, start: header.body, end: header.end)
        let start: UInt64, range: UInt64
        switch format {
        case .ehFrame:
            start = try PointerEncoding.read(&reader, encoding: cie.pointerEncoding, bases: bases)
            range = try PointerEncoding.readUnrelocated(&reader, encoding: cie.pointerEncoding)
        case .debugFrame:
            if cie.hasAugmentationData {
                start = try PointerEncoding.read(&reader, encoding: cie.pointerEncoding, bases: bases)
                range = try PointerEncoding.readUnrelocated(&reader, encoding: cie.pointerEncoding)
            } else {
                start = try reader.u64()
                range = try reader.u64()
            }
        }
        let (end, overflow) = start.addingReportingOverflow(range)
        guard !overflow else { throw .addressRange }
        if cie.hasAugmentationData {
            let length = try reader.uleb128()
            _ = try reader.block(length)
        }
        return FrameDescriptionEntry(offset: header.offset, start: start, end: end, instructions: reader.position..<header.end)
    }
}
