import CBPF
import Foundation
import Symbolizer

/// How uprobes reach the kernel.
enum UprobeMode: String, Sendable {
    /// One uprobe_multi link per program and library file (kernel 6.6+). Removing a
    /// uprobe waits for an RCU grace period (~0.1 s here), and perf-event uprobes are
    /// removed one after another: with one link per program that wait happens once.
    case multi
    /// One perf-event uprobe per function and program (any kernel with uprobes).
    case perEvent

    /// The modes to try, best first, for the running kernel. `PROFILER_AGENT_UPROBES=per-event`
    /// forces the older mode (how the tests cover it on a new kernel).
    static var preferred: [UprobeMode] {
        if ProcessInfo.processInfo.environment["PROFILER_AGENT_UPROBES"] == "per-event" { return [.perEvent] }
        var name = utsname()
        uname(&name)
        let release = withUnsafeBytes(of: name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let parts = release.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
        let atLeast66 = parts.count == 2 && (parts[0], parts[1]) >= (6, 6)
        return atLeast66 ? [.multi, .perEvent] : [.perEvent]
    }

    /// The expected attach type uprobe programs must be loaded with in this mode.
    var expectedAttachType: bpf_attach_type? {
        self == .multi ? bpf_attach_type(rawValue: 48) : nil  // BPF_TRACE_UPROBE_MULTI (not in libbpf 1.1's headers)
    }
}

/// A function to probe in a library: its name and the BPF cookie its probes carry.
struct ProbedFunction: Sendable {
    var name: String
    var cookie: UInt64
}

/// The uprobes of one library file: an entry and a return program on each function it defines.
struct UprobeLinks {
    private enum Link {
        case libbpf(OpaquePointer)
        case fd(Int32)
    }
    private var links: [Link] = []

    /// Attaches `entry` and `exit` to every function of `functions` that `file`
    /// defines. Throws a readable reason when none can be probed.
    ///
    /// The kernel is given the open file (`/proc/self/fd/N`), not its path, so the
    /// probes land on the very inode parsed here, whatever the path leads to now.
    init(file: FileByteSource, functions: [ProbedFunction], entry: OpaquePointer?, exit: OpaquePointer?, mode: UprobeMode) throws(UprobeError) {
        let offsets: [String: UInt64]
        do {
            offsets = try ELFFile(source: file).functionFileOffsets(Set(functions.map(\.name)))
        } catch {
            throw UprobeError(reason: "\(error)")
        }
        let path = file.descriptorPath
        let present = functions.compactMap { f in offsets[f.name].map { (offset: $0, cookie: f.cookie) } }
        guard !present.isEmpty else { throw UprobeError(reason: "defines none of \(functions.map(\.name).joined(separator: ", "))") }
        do throws(UprobeError) {
            for (program, returns) in [(entry, false), (exit, true)] {
                switch mode {
                case .multi:
                    let fd = cbpf_attach_uprobe_multi(bpf_program__fd(program), path, present.map(\.offset), present.map(\.cookie),
                                                      UInt32(present.count), returns)
                    guard fd >= 0 else { throw UprobeError(reason: "uprobe_multi link: \(errnoText(-fd))") }
                    links.append(.fd(fd))
                case .perEvent:
                    for function in present {
                        var options = bpf_uprobe_opts()
                        options.sz = MemoryLayout<bpf_uprobe_opts>.size
                        options.retprobe = returns
                        options.bpf_cookie = function.cookie
                        // Offsets lie inside the file (functionFileOffsets), but a hostile one must not trap here either.
                        guard let offset = Int(exactly: function.offset) else {
                            throw UprobeError(reason: "uprobe offset \(function.offset) is not a file offset")
                        }
                        guard let link = bpf_program__attach_uprobe_opts(program, -1, path, offset, &options) else {
                            throw UprobeError(reason: "uprobe at offset \(function.offset): \(errnoText(errno))")
                        }
                        links.append(.libbpf(link))
                    }
                }
            }
        } catch {
            detach()
            throw error
        }
    }

    /// Removes every uprobe.
    mutating func detach() {
        for link in links {
            switch link {
            case .libbpf(let pointer): bpf_link__destroy(pointer)
            case .fd(let fd): close(fd)
            }
        }
        links.removeAll()
    }
}

/// Why a library could not be probed.
struct UprobeError: Error, CustomStringConvertible {
    var reason: String
    var description: String { reason }
}
