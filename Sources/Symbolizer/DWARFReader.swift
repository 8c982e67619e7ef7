/// A bounds-checked little-endian cursor over DWARF-encoded bytes.
///
/// Every read checks the remaining length first and throws instead of
/// trapping: `.truncated` when the bytes are not there, `.malformed` for a
/// LEB128 value that does not fit in 64 bits (the errors are `FDERejection`s
/// because every reader of call-frame bytes reports those). The cursor only
/// moves forward, within `position..<end`.
struct DWARFReader {
    typealias Error = FDERejection

    let bytes: [UInt8]
    /// Index of the next byte to read.
    private(set) var position: Int
    /// One past the last readable byte.
    let end: Int

    /// A cursor over `bytes[start..<end]`; out-of-range limits are clamped to the array.
    init(_ bytes: [UInt8], start: Int = 0, end: Int? = nil) {
        self.bytes = bytes
        let limit = min(max(end ?? bytes.count, 0), bytes.count)
        self.end = limit
        self.position = min(max(start, 0), limit)
    }

    var remaining: Int { end - position }
    var isAtEnd: Bool { position >= end }

    mutating func skip(_ count: Int) throws(Error) {
        guard count >= 0, count <= remaining else { throw .truncated }
        position += count
    }

    /// Moves to `offset` (which must lie within the cursor's bytes, not before its start).
    mutating func seek(to offset: Int) throws(Error) {
        guard offset >= position, offset <= end else { throw .truncated }
        position = offset
    }

    mutating func u8() throws(Error) -> UInt8 {
        guard position < end else { throw .truncated }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func u16() throws(Error) -> UInt16 { UInt16(truncatingIfNeeded: try little(2)) }
    mutating func u32() throws(Error) -> UInt32 { UInt32(truncatingIfNeeded: try little(4)) }
    mutating func u64() throws(Error) -> UInt64 { try little(8) }

    private mutating func little(_ size: Int) throws(Error) -> UInt64 {
        guard size <= remaining else { throw .truncated }
        var value: UInt64 = 0
        for i in 0..<size { value |= UInt64(bytes[position + i]) << (8 * UInt64(i)) }
        position += size
        return value
    }

    mutating func uleb128() throws(Error) -> UInt64 {
        var value: UInt64 = 0, shift: UInt64 = 0
        while true {
            let byte = try u8()
            let low = UInt64(byte & 0x7f)
            if shift >= 64 || (shift == 63 && low > 1) {
                // Bits beyond 64: only redundant zero padding is accepted.
                guard low == 0 else { throw .malformed }
            } else {
                value |= low << shift
            }
            if byte & 0x80 == 0 { return value }
            shift += 7
            guard shift < 640 else { throw .malformed }
        }
    }

    mutating func sleb128() throws(Error) -> Int64 {
        var value: UInt64 = 0, shift: UInt64 = 0, byte: UInt8 = 0
        repeat {
            byte = try u8()
            if shift < 64 { value |= UInt64(byte & 0x7f) << shift }
            shift += 7
            guard shift < 640 else { throw .malformed }
        } while byte & 0x80 != 0
        if shift < 64 && byte & 0x40 != 0 { value |= ~0 << shift }  // sign-extend
        return Int64(bitPattern: value)
    }

    /// The NUL-terminated string at the cursor (the NUL is consumed, not returned).
    mutating func cString(maximumLength: Int = 64) throws(Error) -> [UInt8] {
        var out: [UInt8] = []
        while true {
            let byte = try u8()
            if byte == 0 { return out }
            guard out.count < maximumLength else { throw .truncated }
            out.append(byte)
        }
    }

    /// `count` bytes as a range of indices into `bytes` (the cursor moves past them).
    mutating func block(_ count: UInt64) throws(Error) -> Range<Int> {
        guard count <= UInt64(remaining) else { throw .truncated }
        let start = position
        position += Int(count)
        return start..<position
    }
}
