/// Bounds-checked little-endian reads from a byte array.
///
/// Every read is checked: a read that does not lie wholly inside the bytes
/// (negative offset, past the end, or an offset so large the end overflows)
/// yields 0 (`slice` an empty array, `cString` an empty string) instead of
/// trapping. Callers that must tell "absent" from 0 check `has(_:at:)` first.
public struct LittleEndianBytes: Sendable {
    public let bytes: [UInt8]

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public var count: Int { bytes.count }

    /// Whether `length` bytes at `offset` lie inside the bytes.
    public func has(_ length: Int, at offset: Int) -> Bool {
        offset >= 0 && length >= 0 && offset <= bytes.count && length <= bytes.count - offset
    }

    public func u8(_ offset: Int) -> UInt8 { has(1, at: offset) ? bytes[offset] : 0 }

    public func u16(_ offset: Int) -> UInt16 { load(offset, as: UInt16.self) }

    public func u32(_ offset: Int) -> UInt32 { load(offset, as: UInt32.self) }

    public func u64(_ offset: Int) -> UInt64 { load(offset, as: UInt64.self) }

    /// The `length` bytes at `offset`, or [] when they are not all there.
    public func slice(_ offset: Int, _ length: Int) -> [UInt8] {
        has(length, at: offset) ? Array(bytes[offset..<offset + length]) : []
    }

    /// The NUL-terminated string at `offset` (to the end when unterminated).
    public func cString(at offset: Int) -> [UInt8] {
        guard offset >= 0, offset < bytes.count else { return [] }
        var end = offset
        while end < bytes.count && bytes[end] != 0 { end += 1 }
        return Array(bytes[offset..<end])
    }

    private func load<T: FixedWidthInteger>(_ offset: Int, as: T.Type) -> T {
        guard has(MemoryLayout<T>.size, at: offset) else { return 0 }
        return bytes.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
    }
}
