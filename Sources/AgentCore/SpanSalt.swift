import Foundation
import Symbolizer

/// A per-boot salt for span ids, from the kernel's boot id, so that span ids
/// of different hosts differ (while all objects on this host agree).
func spanSalt() -> UInt64 {
    guard let bytes = readWholeFile("/proc/sys/kernel/random/boot_id") else { return 0 }
    let hex = String(decoding: bytes, as: UTF8.self).filter(\.isHexDigit)
    return UInt64(hex.prefix(16), radix: 16) ?? 0
}
