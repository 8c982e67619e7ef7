#if canImport(Glibc)
import Glibc
#endif

/// Linux capabilities the agent uses, by number.
public enum Capability: Int, CaseIterable, Sendable {
    case sysAdmin = 21
    case sysPtrace = 19
    case dacReadSearch = 2
    case sysResource = 24
    case syslog = 34
    case perfmon = 38
    case bpf = 39
    case checkpointRestore = 40

    public var name: String {
        switch self {
        case .sysAdmin: "CAP_SYS_ADMIN"
        case .sysPtrace: "CAP_SYS_PTRACE"
        case .dacReadSearch: "CAP_DAC_READ_SEARCH"
        case .sysResource: "CAP_SYS_RESOURCE"
        case .syslog: "CAP_SYSLOG"
        case .perfmon: "CAP_PERFMON"
        case .bpf: "CAP_BPF"
        case .checkpointRestore: "CAP_CHECKPOINT_RESTORE"
        }
    }
}

/// The effective capabilities of this process (from /proc/self/status).
public struct Privileges: Sendable {
    public let effective: UInt64

    public init(effective: UInt64) { self.effective = effective }

    /// Reads `CapEff` of the current process.
    public static func current() -> Privileges {
        var effective: UInt64 = 0
        if let bytes = readWholeFile("/proc/self/status") {
            let text = String(decoding: bytes, as: UTF8.self)
            for line in text.split(separator: "\n") where line.hasPrefix("CapEff:") {
                effective = UInt64(line.dropFirst("CapEff:".count).trimmingCharacters(in: .whitespaces), radix: 16) ?? 0
            }
        }
        return Privileges(effective: effective)
    }

    public func has(_ capability: Capability) -> Bool { effective & (1 << UInt64(capability.rawValue)) != 0 }

    /// Capabilities the agent works without, but worse: each with what is lost.
    /// Empty when all are present (or with CAP_SYS_ADMIN, which covers them).
    public func missingRecommended() -> [(capability: Capability, effect: String)] {
        if has(.sysAdmin) { return [] }
        let recommended: [(Capability, String)] = [
            (.syslog, "/proc/kallsyms shows no addresses: kernel frames stay unnamed"),
            (.sysPtrace, "processes of other users cannot be symbolised or probed (their /proc/PID/maps and /proc/PID/root are refused)"),
            (.dacReadSearch, "binaries and libraries not readable by root's uid cannot be symbolised"),
            (.checkpointRestore, "deleted or replaced binaries cannot be opened through /proc/PID/map_files"),
        ]
        return recommended.filter { !has($0.0) }.map { (capability: $0.0, effect: $0.1) }
    }

    /// Throws unless BPF programs can be loaded and perf events opened:
    /// CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN (which implies both).
    public func requireSampling() throws(AgentError) {
        if has(.sysAdmin) { return }
        let missing = [Capability.bpf, .perfmon].filter { !has($0) }.map(\.name)
        if !missing.isEmpty { throw .insufficientPrivileges(missing: missing) }
    }
}

import Foundation
import Symbolizer
