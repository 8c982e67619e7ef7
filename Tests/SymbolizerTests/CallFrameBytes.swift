/// Hand-made `.eh_frame` / `.debug_frame` bytes for the CFA interpreter tests.
struct CallFrameBytes {
    enum Format { case ehFrame, debugFrame32, debugFrame64 }

    var format: Format = .ehFrame
    var bytes: [UInt8] = []

    static func uleb(_ value: UInt64) -> [UInt8] {
        var value = value, out: [UInt8] = []
        repeat {
            var byte = UInt8(value & 0x7f)
            value >>= 7
            if value != 0 { byte |= 0x80 }
            out.append(byte)
        } while value != 0
        return out
    }

    static func sleb(_ value: Int64) -> [UInt8] {
        var value = value, out: [UInt8] = []
        while true {
            let byte = UInt8(value & 0x7f)
            value >>= 7
            if (value == 0 && byte & 0x40 == 0) || (value == -1 && byte & 0x40 != 0) { return out + [byte] }
            out.append(byte | 0x80)
        }
    }

    static func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        (0..<MemoryLayout<T>.size).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
    }

    /// Appends an entry (length, id, body, padded to 8 bytes with DW_CFA_nop); returns its offset.
    private mutating func entry(id: (Int) -> [UInt8], body: [UInt8]) -> Int {
        let offset = bytes.count
        let headerSize = format == .debugFrame64 ? 12 : 4
        let idField = id(offset + headerSize)
        var content = idField + body
        while (headerSize + content.count) % 8 != 0 { content.append(0) }
        if format == .debugFrame64 {
            bytes += Self.le(UInt32(0xffff_ffff)) + Self.le(UInt64(content.count))
        } else {
            bytes += Self.le(UInt32(content.count))
        }
        bytes += content
        return offset
    }

    /// A CIE; `augmentationData` follows a "z" augmentation (its length is added).
    @discardableResult
    mutating func cie(version: UInt8 = 1, augmentation: String = "zR", augmentationData: [UInt8] = [0x00],
                      codeAlignment: UInt64 = 1, dataAlignment: Int64 = -8, returnAddress: UInt8 = 16,
                      initial: [UInt8] = [0x0c, 0x07, 0x08, 0x90, 0x01], extra: [UInt8] = []) -> Int {
        var body: [UInt8] = [version] + Array(augmentation.utf8) + [0] + extra
        if version == 4 { body += [8, 0] }
        body += Self.uleb(codeAlignment) + Self.sleb(dataAlignment)
        body += version == 1 ? [returnAddress] : Self.uleb(UInt64(returnAddress))
        if augmentation.hasPrefix("z") { body += Self.uleb(UInt64(augmentationData.count)) + augmentationData }
        body += initial
        let format = format
        return entry(id: { _ in
            switch format {
            case .ehFrame: Self.le(UInt32(0))
            case .debugFrame32: Self.le(UInt32(0xffff_ffff))
            case .debugFrame64: Self.le(UInt64.max)
            }
        }, body: body)
    }

    /// An FDE; `address` is the encoded pc_begin and range as written (absptr by default).
    @discardableResult
    mutating func fde(cie: Int, start: UInt64, length: UInt64, instructions: [UInt8],
                      encodedStart: ((Int) -> [UInt8])? = nil, rangeBytes: [UInt8]? = nil, augmentationData: [UInt8]? = [],
                      sectionAddress: UInt64 = 0) -> Int {
        let idSize = format == .debugFrame64 ? 8 : 4
        let format = format
        return entry(id: { idAt in
            switch format {
            case .ehFrame: Self.le(UInt32(idAt - cie))
            case .debugFrame32: Self.le(UInt32(cie))
            case .debugFrame64: Self.le(UInt64(cie))
            }
        }, body: {
            let pcAt = bytes.count + (format == .debugFrame64 ? 12 : 4) + idSize
            var body = encodedStart?(pcAt) ?? Self.le(start)
            body += rangeBytes ?? Self.le(length)
            if let augmentationData { body += Self.uleb(UInt64(augmentationData.count)) + augmentationData }
            return body + instructions
        }())
    }

    mutating func terminator() { bytes += [0, 0, 0, 0] }
}
