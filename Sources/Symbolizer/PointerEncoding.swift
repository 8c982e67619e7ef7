/// `DW_EH_PE_*` pointer encodings of `.eh_frame` and `.eh_frame_hdr` (LSB 5.0,
/// "DWARF Exception Header Encoding"): the low nibble is the value's format,
/// bits 4–6 what it is relative to, bit 7 "indirect".
struct PointerEncoding {
    static let omit: UInt8 = 0xff
    static let indirect: UInt8 = 0x80

    /// What a relative pointer is relative to.
    struct Bases {
        /// Virtual address of byte 0 of the section being read (for `pcrel`).
        var section: UInt64
        /// `.text` address, for `textrel` (nil: unknown, such pointers are refused).
        var text: UInt64?
        /// `.eh_frame_hdr` address, for `datarel` (nil: unknown, refused).
        var data: UInt64?

        init(section: UInt64, text: UInt64? = nil, data: UInt64? = nil) {
            self.section = section
            self.text = text
            self.data = data
        }
    }

    /// Reads a pointer at the cursor. `indirect`, `funcrel` and bases that are
    /// not known throw `.encoding`: the value would be a guess.
    static func read(_ reader: inout DWARFReader, encoding: UInt8, bases: Bases) throws(FDERejection) -> UInt64 {
        guard encoding != omit, encoding & indirect == 0 else { throw .encoding(encoding) }
        let application = encoding & 0x70
        if application == 0x50 { try align(&reader, bases: bases) }
        let fieldAddress = bases.section &+ UInt64(reader.position)
        let value = try readValue(&reader, format: encoding & 0x0f, encoding: encoding)
        switch application {
        case 0x00, 0x50: return value
        case 0x10: return fieldAddress &+ value
        case 0x20:
            guard let text = bases.text else { throw .encoding(encoding) }
            return text &+ value
        case 0x30:
            guard let data = bases.data else { throw .encoding(encoding) }
            return data &+ value
        default: throw .encoding(encoding)  // funcrel (0x40) and undefined applications
        }
    }

    /// Reads only the value's format (FDE address ranges: no base applied).
    static func readUnrelocated(_ reader: inout DWARFReader, encoding: UInt8) throws(FDERejection) -> UInt64 {
        guard encoding != omit else { throw .encoding(encoding) }
        return try readValue(&reader, format: encoding & 0x0f, encoding: encoding)
    }

    /// Moves past a pointer without resolving it (the personality routine, which may be indirect).
    static func skip(_ reader: inout DWARFReader, encoding: UInt8, bases: Bases) throws(FDERejection) {
        guard encoding != omit else { return }
        if encoding & 0x70 == 0x50 { try align(&reader, bases: bases) }
        _ = try readValue(&reader, format: encoding & 0x0f, encoding: encoding)
    }

    private static func align(_ reader: inout DWARFReader, bases: Bases) throws(FDERejection) {
        let address = bases.section &+ UInt64(reader.position)
        try reader.skip(Int((8 &- (address & 7)) & 7))
    }

    private static func readValue(_ reader: inout DWARFReader, format: UInt8, encoding: UInt8) throws(FDERejection) -> UInt64 {
        switch format {
        case 0x00, 0x04: return try reader.u64()  // absptr (8-byte addresses), udata8
        case 0x01: return try reader.uleb128()
        case 0x02: return UInt64(try reader.u16())
        case 0x03: return UInt64(try reader.u32())
        case 0x08, 0x0c: return try reader.u64()  // signed absptr, sdata8
        case 0x09: return UInt64(bitPattern: try reader.sleb128())
        case 0x0a: return UInt64(bitPattern: Int64(Int16(bitPattern: try reader.u16())))
        case 0x0b: return UInt64(bitPattern: Int64(Int32(bitPattern: try reader.u32())))
        default: throw .encoding(encoding)
        }
    }
}
