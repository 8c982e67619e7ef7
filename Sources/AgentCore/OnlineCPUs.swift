import Foundation

/// Parses a kernel CPU list such as "0-3,8,10-11" (as in /sys/devices/system/cpu/online).
public func parseCPUList(_ text: String) -> [Int]? {
    var cpus: [Int] = []
    for part in text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ",") {
        let bounds = part.split(separator: "-")
        guard let first = bounds.first.flatMap({ Int($0) }) else { return nil }
        let last = bounds.count == 2 ? Int(bounds[1]) : (bounds.count == 1 ? first : nil)
        guard let last, last >= first else { return nil }
        cpus.append(contentsOf: first...last)
    }
    return cpus.isEmpty ? nil : cpus
}

/// The online CPUs of this machine.
public func onlineCPUs() -> [Int] {
    if let text = try? String(contentsOfFile: "/sys/devices/system/cpu/online", encoding: .utf8),
       let cpus = parseCPUList(text) {
        return cpus
    }
    return Array(0..<ProcessInfo.processInfo.activeProcessorCount)
}
