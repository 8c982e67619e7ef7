import AgentCore
import Foundation

/// Everything `profiler-agent run` needs, resolved from flags, environment and YAML.
public struct DaemonConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 7097
    /// Bytes of closed windows kept in memory.
    public var retainBytes = 16 << 20
    /// Longest `seconds=` a profile request may ask for.
    public var maxProfileSeconds = 60
    /// Profile requests (`/debug/pprof/profile`, `/flamegraph?seconds=`) served at once.
    public var concurrentProfileRequests = 4
    public var profiling = ContinuousOptions()
    /// Syscalls with their own `syscall` label; the rest are `other`.
    public var topSyscalls = 20
    public var pyroscope: PyroscopeTarget?

    public init() {}
}

/// Where and as what windows are pushed.
public struct PyroscopeTarget: Sendable {
    /// Base URL, e.g. http://pyroscope:4040 (`/ingest` is appended).
    public var url: String
    /// Application name; the series is `APP.cpu{labels}`.
    public var application = "profiler-agent"
    /// Windows waiting to be pushed; beyond this the oldest is dropped (and counted).
    public var queueCapacity = 16
    /// Attempts per window before it is dropped.
    public var attempts = 4
    public init(url: String) { self.url = url }
}

extension DaemonConfiguration {
    /// Builds the configuration from resolved settings, validating every value.
    public init(settings: Settings) throws(AgentError) {
        var c = DaemonConfiguration()
        let listen = settings.string("listen") ?? "127.0.0.1:7097"
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]), (0...65535).contains(port) else {
            throw .invalidOption("listen: '\(listen)' is not HOST:PORT")
        }
        c.host = String(listen[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        c.port = port
        c.profiling.window = try settings.seconds("window", default: 10, in: 1...3600)
        c.retainBytes = try settings.bytes("retain", default: 16 << 20)
        c.profiling.sampling.frequency = try settings.integer("frequency", default: 97, in: 1...10_000)
        c.profiling.sampling.pids = try settings.list("pid").map { raw throws(AgentError) in
            guard let pid = Int32(raw), pid > 0 else { throw .invalidOption("pid: '\(raw)' is not a process id") }
            return pid
        }
        c.profiling.filters = .init(cgroupPrefix: settings.string("cgroup"), commPattern: settings.string("comm"))
        c.profiling.sampling.excludeKernelThreads = try settings.bool("exclude-kernel-threads")
        if let raw = settings.string("unwinder") {
            guard let mode = UnwinderMode(rawValue: raw) else {
                throw .invalidOption("unwinder: '\(raw)' is not one of auto, fp, dwarf")
            }
            c.profiling.sampling.unwinder = mode
        }
        c.profiling.sampling.unwindTableBytes = try settings.bytes("unwind-table-budget", default: SamplingConfiguration.defaultUnwindTableBytes)
        guard (1 << 20...1 << 30).contains(c.profiling.sampling.unwindTableBytes) else {
            throw .invalidOption("unwind-table-budget: must be between 1MiB and 1GiB")
        }
        c.profiling.nodeName = settings.string("node-name") ?? ""
        c.profiling.sampling.btfPath = settings.string("btf")
        let debugDirectories = settings.list("debug-dir")
        c.profiling.symbolizer.debugDirectories = debugDirectories.isEmpty ? ["/usr/lib/debug"] : debugDirectories
        c.profiling.symbolizer.swiftNames = try settings.bool("full-swift-names") ? .full : .simplified
        c.maxProfileSeconds = try settings.integer("max-profile-seconds", default: 60, in: 1...3600)
        c.topSyscalls = try settings.integer("syscall-top", default: 20, in: 1...512)
        c.profiling.syscallContainers = try settings.integer("syscall-containers", default: 0, in: 0...1000)
        if settings.values("tracers") != nil {
            var kinds: Set<TracerKind> = []
            for name in settings.list("tracers") where !name.isEmpty && name != "none" {
                guard let kind = TracerKind(rawValue: name) else {
                    throw .invalidOption("tracers: unknown tracer '\(name)' (available: \(TracerKind.allCases.map(\.rawValue).joined(separator: ", ")), or none)")
                }
                kinds.insert(kind)
            }
            c.profiling.tracers = kinds
        }
        let minimumBlock = try settings.seconds("offcpu-min-block", default: 0.001, in: 0...60)
        c.profiling.offCPU.minimumBlockNanoseconds = UInt64(minimumBlock * 1e9)
        c.profiling.exemplarIntervalNanoseconds = UInt64(try settings.seconds("exemplar-interval", default: 1, in: 0...3600) * 1e9)
        if let url = settings.string("pyroscope-url") {
            guard let parsed = URLComponents(string: url), ["http", "https"].contains(parsed.scheme ?? ""), parsed.host != nil,
                  (parsed.port ?? 80) > 0, (parsed.port ?? 80) <= 65535, parsed.query == nil else {
                throw .invalidOption("pyroscope-url: '\(url)' is not an http(s) URL")
            }
            var target = PyroscopeTarget(url: url)
            target.application = settings.string("pyroscope-app") ?? target.application
            target.queueCapacity = try settings.integer("push-queue", default: 16, in: 1...10_000)
            c.pyroscope = target
        }
        self = c
    }
}
