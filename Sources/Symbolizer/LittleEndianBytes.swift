/// Bounds-checked little-endian reads from a byte array.
struct LittleEndianBytes {
    let bytes: [UInt8]

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var count: Int { bytes.count }

    func has(_ length: Int, at offset: Int) -> Bool {
        offset >= 0 && length >= 0 && offset <= bytes.count && length <= bytes.count - offset
    }

    func u8(_ offset: Int) -> UInt8 { bytes[offset] }

    func u16(_ offset: Int) -> UInt16 { load(offset, as: UInt16.self) }

    func u32(_ offset: Int) -> UInt32 { load(offset, as: UInt32.self) }

    func u64(_ offset: Int) -> UInt64 { load(offset, as: UInt64.self) }

    /// The NUL-terminated string at `offset` (to the end when unterminated).
    func cString(at offset: Int) -> [UInt8] {
        guard offset >= 0, offset < bytes.count else { return [] }
        var end = offset
        while end < bytes.count && bytes[end] != 0 { end += 1 }
        return Array(bytes[offset..<end])
    }

    private func load<T: FixedWidthInteger>(_ offset: Int, as: T.Type) -> T {
        precondition(has(MemoryLayout<T>.size, at: offset), "caller checks bounds")
        return bytes.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
    }
}
