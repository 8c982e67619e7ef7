import Foundation
import Pprof
import Symbolizer

/// Output formats of `record`.
public enum OutputFormat: String, Sendable, CaseIterable {
    case pprof, folded
}

/// What `record` does.
public struct RecordOptions: Sendable {
    public var duration: Double = 10
    public var sampling = SamplingConfiguration()
    public var output = "cpu.pb.gz"
    public var format = OutputFormat.pprof
    /// Show a progress line (on a terminal).
    public var progress = false
    /// Seconds between drains of the BPF maps (keeps maps small and symbolises
    /// short-lived processes while they still exist).
    public var drainInterval: Double = 2
    public var symbolizer = Symbolizer.Options()
    public init() {}
}

/// The outcome of a recording.
public struct RecordSummary: Sendable {
    public var samples: Int64
    public var stacks: Int
    public var processes: Int
    public var statistics: SamplingStatistics
    public var interruptedBy: Int32?
    public var cpus: Int
}

/// `profiler-agent record`: attach → sample for a duration (or until a
/// signal) → drain & symbolise → encode → write.
public final class Recorder {
    public let options: RecordOptions
    private let stop: StopSignal
    private let log: @Sendable (String) -> Void

    public init(options: RecordOptions, stop: StopSignal, log: @escaping @Sendable (String) -> Void) {
        self.options = options
        self.stop = stop
        self.log = log
    }

    public func run() throws(AgentError) -> RecordSummary {
        try DurationLimits.checkRecording(options.duration)
        guard options.sampling.frequency > 0, options.sampling.frequency <= 10_000 else {
            throw .invalidOption("--frequency must be between 1 and 10000 Hz")
        }
        guard options.duration > 0 else { throw .invalidOption("--duration must be positive") }
        var sampling = options.sampling
        sampling.pids = try Preflight.check(btfPath: sampling.btfPath, pids: sampling.pids)
        Preflight.raiseOpenFileLimit()
        Preflight.limitHeapRetention()
        let tables = try StackSources.usesUnwindTables(sampling.unwinder, report: { log($0 + "\n") })
        let context = BPFLoadContext(maps: try SharedBPFMaps(pids: sampling.pids, unwindTables: tables, tableBytes: sampling.unwindTableBytes), btfPath: sampling.btfPath)
        let source = StackSources.make(sampling, context: context)
        let symbolization = StackSymbolization(symbolizer: Symbolizer(options: options.symbolizer))
        source.observeProcessMaps { [symbolizer = symbolization.symbolizer] in symbolizer.keep($1, of: $0) }
        try source.start()  // with unwind tables, describes the processes first
        defer { source.stop() }
        let startNanos = Int64(Date().timeIntervalSince1970 * 1e9)
        let clockStart = DispatchTime.now().uptimeNanoseconds

        var samples: [StackSample] = []
        var nextDrain = options.drainInterval
        var lastProgress = -1
        while true {
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - clockStart) / 1e9
            if elapsed >= options.duration || stop.received != nil { break }
            if elapsed >= nextDrain {
                samples += symbolization.symbolize(try source.drain())
                nextDrain += options.drainInterval
            }
            if options.progress, Int(elapsed) != lastProgress {
                lastProgress = Int(elapsed)
                let count = source.statistics().samples
                log("\r\u{1B}[K[\(lastProgress)/\(Int(options.duration.rounded(.up))) s] \(count) samples on \(source.attachedCPUs) CPUs")
            }
            Thread.sleep(forTimeInterval: min(0.05, max(options.duration - elapsed, 0.001)))
        }
        samples += symbolization.symbolize(try source.drain())
        let statistics = source.statistics()
        let cpus = source.attachedCPUs
        source.stop()
        if options.progress { log("\r\u{1B}[K") }

        let durationNanos = Int64(DispatchTime.now().uptimeNanoseconds - clockStart)
        let profile = CPUProfile(samples: samples, startNanos: startNanos, durationNanos: durationNanos,
                                 frequency: options.sampling.frequency)
        try write(profile)
        return RecordSummary(
            samples: profile.totalCount, stacks: samples.count,
            processes: Set(samples.map(\.pid)).count, statistics: statistics,
            interruptedBy: stop.received, cpus: cpus)
    }

    private func write(_ profile: CPUProfile) throws(AgentError) {
        let data: Data
        do {
            switch options.format {
            case .pprof: data = try PprofWriter().encode(profile)
            case .folded: data = Data(FoldedWriter().encode(profile).utf8)
            }
        } catch {
            throw .outputFailed(path: options.output, reason: "encoding failed: \(error)")
        }
        try OutputFile.write(data, to: options.output)
    }
}
