import AgentCore
import ArgumentParser
import Foundation

extension OutputFormat: ExpressibleByArgument {}
extension UnwinderMode: ExpressibleByArgument {}

struct RecordCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "record",
        abstract: "Sample CPU stacks for a while and write one profile.",
        discussion: """
            Samples every online CPU at --frequency Hz with a CPU-clock perf event, walking kernel stacks \
            and user stacks in BPF (unwind tables from .eh_frame/.debug_frame where a binary has them, \
            frame pointers elsewhere: --unwinder), symbolises them from ELF symbols and /proc/kallsyms, \
            and writes a gzipped pprof profile (or folded stacks for FlameGraph). Ctrl-C (SIGINT) or \
            SIGTERM stops early and still writes what was collected. Needs root, or CAP_BPF + CAP_PERFMON.
            """
    )

    @Option(help: "Seconds to sample (above 0, at most 31 days).")
    var duration: Double = 10

    @Option(help: "Samples per second on each CPU.")
    var frequency: Int = 97

    @Option(name: .customLong("pid"), help: "Only sample this process (repeatable; a thread id selects its process). Default: all processes.")
    var pids: [Int32] = []

    @Option(name: .shortAndLong, help: "Where to write the profile ('-' for standard output). Default: cpu.pb.gz (pprof), cpu.folded (folded).")
    var output: String?

    @Option(help: "pprof (gzipped profile.proto) or folded (FlameGraph's 'comm;root;…;leaf count').")
    var format: OutputFormat = .pprof

    @Option(help: "User-stack walker: auto (the default: unwind tables from .eh_frame/.debug_frame where present, frame pointers elsewhere; frame pointers only on kernels before 5.8), fp (frame pointers only), or dwarf (like auto; an error where the kernel cannot).")
    var unwinder: UnwinderMode = .auto

    @Option(help: "BTF file of the running kernel, for kernels without /sys/kernel/btf/vmlinux.")
    var btf: String?

    @Option(help: "Separate debug-file directory searched by build-id and .gnu_debuglink (repeatable).")
    var debugDir: [String] = ["/usr/lib/debug"]

    @Flag(help: "Swift names as the Swift runtime prints them (modules, parameter types, specialisations) instead of `swift demangle --simplified`'s short form.")
    var fullSwiftNames = false

    @Flag(help: "Print libbpf's warnings as they happen.")
    var verbose = false

    func run() throws {
        var options = RecordOptions()
        options.duration = duration
        options.sampling.frequency = frequency
        options.sampling.pids = pids
        options.sampling.btfPath = btf
        options.sampling.unwinder = unwinder
        options.format = format
        options.output = output ?? (format == .pprof ? "cpu.pb.gz" : "cpu.folded")
        options.progress = isatty(STDERR_FILENO) == 1
        options.symbolizer.debugDirectories = debugDir
        options.symbolizer.swiftNames = fullSwiftNames ? .full : .simplified
        if verbose { BPFLog.capture(echo: true) }

        let stop = StopSignal()
        stop.install()
        do {
            let summary = try Recorder(options: options, stop: stop, log: { printError($0, terminator: "") }).run()
            var line = "profiler-agent: wrote \(options.output) (\(options.format.rawValue)): \(summary.samples) samples, "
                + "\(summary.stacks) stacks, \(summary.processes) processes, \(summary.cpus) CPUs"
            let s = summary.statistics
            if s.droppedMapFull + s.userStacksLost + s.kernelStacksLost + s.stacksMissing > 0 {
                line += "; dropped \(s.droppedMapFull) samples (map full), lost \(s.userStacksLost) user / "
                    + "\(s.kernelStacksLost) kernel stacks, \(s.stacksMissing) stacks missing"
            }
            if let signal = summary.interruptedBy { line += " (stopped early by signal \(signal))" }
            printError(line)
        } catch {
            printError("profiler-agent: error: \(error)")
            throw ExitCode.failure
        }
    }
}
