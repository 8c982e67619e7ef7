import CBPF

/// libbpf's log, captured so a failed load can show the verifier's verdict.
public enum BPFLog {
    /// Routes libbpf output into the capture buffer; `echo` also prints warnings.
    public static func capture(echo: Bool = false) { cbpf_capture_libbpf_log(echo) }

    public static func clear() { cbpf_libbpf_log_clear() }

    /// The last `count` non-empty lines libbpf printed.
    public static func tail(_ count: Int = 20) -> [String] {
        var buffer = [CChar](repeating: 0, count: 64 * 1024)
        let length = cbpf_libbpf_log_copy(&buffer, buffer.count)
        let text = buffer.withUnsafeBufferPointer { raw in
            String(decoding: UnsafeRawBufferPointer(start: raw.baseAddress, count: length), as: UTF8.self)
        }
        let lines = text.split(separator: "\n").map(String.init).filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        return Array(lines.suffix(count))
    }
}

import Foundation
