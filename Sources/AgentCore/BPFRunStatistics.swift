import CBPF
import Symbolizer
import Foundation

/// The kernel's per-program run count and run time. Turned on while this
/// object lives (`BPF_ENABLE_STATS` needs CAP_SYS_ADMIN, or the sysctl
/// kernel.bpf_stats_enabled=1); without either the counters stay 0, so none are reported.
final class BPFRunStatistics {
    private let fd: Int32

    init() { fd = bpf_enable_stats(BPF_STATS_RUN_TIME) }  // stays on while the fd is open

    deinit { if fd >= 0 { close(fd) } }

    /// Whether the kernel is counting now.
    var isCounting: Bool {
        fd >= 0 || readWholeFile("/proc/sys/kernel/bpf_stats_enabled").map { $0.first == UInt8(ascii: "1") } == true
    }

    /// The counters of these programs (tracer, name, fd); empty when the kernel does not count.
    func read(_ programs: [(tracer: String, name: String, fd: Int32)]) -> [BPFProgramStatistics] {
        guard isCounting else { return [] }
        return programs.compactMap { program in
            var info = bpf_prog_info()
            var length = UInt32(MemoryLayout<bpf_prog_info>.size)
            guard program.fd >= 0, bpf_obj_get_info_by_fd(program.fd, &info, &length) == 0 else { return nil }
            return BPFProgramStatistics(tracer: program.tracer, name: program.name, runCount: info.run_cnt, runTimeNanoseconds: info.run_time_ns)
        }
    }
}
