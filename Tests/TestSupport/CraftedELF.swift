import Foundation

/// Hostile variants of real ELF images, made by patching their headers.
public enum CraftedELF {
    /// `bytes` with `delta` added (wrapping) to the file offset of every PT_LOAD
    /// program header: symbols then translate to file offsets outside the file.
    public static func shiftingLoadOffsets(of bytes: [UInt8], by delta: UInt64) -> [UInt8] {
        var out = bytes
        let phoff = Int(read(bytes, at: 32, size: 8)), phentsize = Int(read(bytes, at: 54, size: 2)), phnum = Int(read(bytes, at: 56, size: 2))
        for i in 0..<phnum {
            let entry = phoff + i * phentsize
            guard read(bytes, at: entry, size: 4) == 1 else { continue }  // PT_LOAD
            let shifted = read(bytes, at: entry + 8, size: 8) &+ delta
            for b in 0..<8 { out[entry + 8 + b] = UInt8(truncatingIfNeeded: shifted >> (8 * UInt64(b))) }
        }
        return out
    }

    static func read(_ bytes: [UInt8], at offset: Int, size: Int) -> UInt64 {
        (0..<size).reduce(UInt64(0)) { $0 | UInt64(bytes[offset + $1]) << (8 * UInt64($1)) }
    }
}
