import AgentCore
import AgentService
import ArgumentParser
import Foundation

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Profile continuously and serve the profiles over HTTP (the DaemonSet mode).",
        discussion: """
            Samples every process continuously, closes a profile window every --window seconds and keeps \
            the recent windows in memory (--retain). Serves: /debug/pprof/profile?seconds=N, /profiles, \
            /profiles/ID, /flamegraph, /metrics, /healthz, /readyz. Optionally pushes each window to \
            Pyroscope. SIGTERM/SIGINT close the current window, push it, detach and exit.

            Every option can also come from the environment (PROFILER_AGENT_<OPTION>, e.g. \
            PROFILER_AGENT_WINDOW=30; lists comma-separated) or from a YAML file (--config) whose keys are \
            the option names (e.g. `window: 30`, `pid: [1, 2]`). A flag wins over the environment, which \
            wins over the file.
            """
    )

    @Option(help: "YAML configuration file. (env: PROFILER_AGENT_CONFIG)")
    var config: String?

    @Option(help: "Address to serve HTTP on, HOST:PORT. (default: 127.0.0.1:7097)")
    var listen: String?

    @Option(help: "Seconds per profile window. (default: 10)")
    var window: String?

    @Option(help: "Memory for retained windows, e.g. 16MiB; the oldest windows are evicted beyond it. (default: 16MiB)")
    var retain: String?

    @Option(help: "Samples per second on each CPU. (default: 97)")
    var frequency: String?

    @Option(help: "Only sample this process (repeatable). (default: all processes)")
    var pid: [String] = []

    @Option(help: "Only keep processes whose cgroup path starts with this prefix, e.g. /kubepods. (default: all)")
    var cgroup: String?

    @Option(help: "Only keep threads whose command name matches this regular expression. (default: all)")
    var comm: String?

    @Option(help: "User-stack walker: auto, fp or dwarf (see `record --help`). (default: auto)")
    var unwinder: String?

    @Option(help: "BPF map memory for unwind table rows (with --unwinder auto/dwarf), e.g. 32MiB; beyond it the least recently sampled files are walked with frame pointers. (default: 12MiB)")
    var unwindTableBudget: String?

    @Flag(inversion: .prefixedNo, help: "Skip kernel threads (kworker, ksoftirqd, …). (default: no)")
    var excludeKernelThreads: Bool?

    @Flag(inversion: .prefixedNo, help: "Swift names as the Swift runtime prints them (modules, parameter types, specialisations) instead of `swift demangle --simplified`'s short form. (default: no)")
    var fullSwiftNames: Bool?

    @Option(help: "Value of the `node` label. (env: NODE_NAME or PROFILER_AGENT_NODE_NAME; default: none)")
    var nodeName: String?

    @Option(help: "Push each window to this Pyroscope server, e.g. http://pyroscope:4040. (default: no push)")
    var pyroscopeUrl: String?

    @Option(help: "Pyroscope application name; series are APP.cpu{node=…}. (default: profiler-agent)")
    var pyroscopeApp: String?

    @Option(help: "Windows waiting to be pushed before the oldest is dropped. (default: 16)")
    var pushQueue: String?

    @Option(help: "Longest seconds= a profile request may ask for. (default: 60)")
    var maxProfileSeconds: String?

    @Option(help: "Event tracers to attach, comma-separated: syscall, offcpu, io, dns, tls (or none). A tracer that cannot attach is reported once and left out. (default: all)")
    var tracers: String?

    @Option(help: "Shortest off-CPU block counted, e.g. 1ms, 500us. (default: 1ms)")
    var offcpuMinBlock: String?

    @Option(help: "Syscalls with their own series in profiler_syscall_latency_seconds; the rest are syscall=\"other\". (default: 20)")
    var syscallTop: String?

    @Option(help: "Also split syscall latency by container: profiler_container_syscall_latency_seconds{container_id} for the first N containers seen, later ones as \"other\". (default: 0, off)")
    var syscallContainers: String?

    @Option(help: "How often each latency bucket may take a new exemplar with the stacks of its event, e.g. 1s, 250ms; 0 takes no event stacks (exemplars then only for spans CPU or off-CPU samples carry). (default: 1s)")
    var exemplarInterval: String?

    @Option(help: "BTF file of the running kernel, for kernels without /sys/kernel/btf/vmlinux.")
    var btf: String?

    @Option(help: "Separate debug-file directory (repeatable). (default: /usr/lib/debug)")
    var debugDir: [String] = []

    func run() async throws {
        do {
            let configuration = try resolve()
            try await AgentDaemon(configuration: configuration).run(log: { printError($0) })
            printError("profiler-agent: stopped")
        } catch let error as AgentError {
            printError("profiler-agent: error: \(error)")
            throw ExitCode.failure
        } catch {
            printError("profiler-agent: error: \(error)")
            throw ExitCode.failure
        }
    }

    func resolve() throws(AgentError) -> DaemonConfiguration {
        let settings = try Settings(flags: [
            "listen": listen.map { [$0] } ?? [], "window": window.map { [$0] } ?? [], "retain": retain.map { [$0] } ?? [],
            "frequency": frequency.map { [$0] } ?? [], "pid": pid, "cgroup": cgroup.map { [$0] } ?? [],
            "comm": comm.map { [$0] } ?? [], "exclude-kernel-threads": excludeKernelThreads.map { [String($0)] } ?? [],
            "full-swift-names": fullSwiftNames.map { [String($0)] } ?? [],
            "unwinder": unwinder.map { [$0] } ?? [], "unwind-table-budget": unwindTableBudget.map { [$0] } ?? [],
            "node-name": nodeName.map { [$0] } ?? [], "pyroscope-url": pyroscopeUrl.map { [$0] } ?? [],
            "pyroscope-app": pyroscopeApp.map { [$0] } ?? [], "push-queue": pushQueue.map { [$0] } ?? [],
            "max-profile-seconds": maxProfileSeconds.map { [$0] } ?? [], "exemplar-interval": exemplarInterval.map { [$0] } ?? [], "btf": btf.map { [$0] } ?? [], "debug-dir": debugDir,
            "tracers": tracers.map { $0.split(separator: ",").map(String.init) + ($0.isEmpty ? ["none"] : []) } ?? [],
            "offcpu-min-block": offcpuMinBlock.map { [$0] } ?? [], "syscall-top": syscallTop.map { [$0] } ?? [],
            "syscall-containers": syscallContainers.map { [$0] } ?? [],
        ], environment: ProcessInfo.processInfo.environment, configPath: config)

        return try DaemonConfiguration(settings: settings)
    }
}
