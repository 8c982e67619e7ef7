/// What each tracer costs in the kernel, for `/debug/overhead`: its programs'
/// runs and run time (kernel BPF stats) over the last `span` seconds and
/// since start. An event is one run of the tracer's busiest program (a syscall
/// is one `sys_exit` run, a sample one `perf_event` run); its cost is the run time
/// of all the tracer's programs per event (a syscall's: `sys_enter` + `sys_exit`).
public struct TracerOverhead: Sendable, Equatable, Codable {
    public struct Program: Sendable, Equatable, Codable {
        public var program: String
        public var runsTotal: UInt64
        public var runSecondsTotal: Double
        public var runsPerSecond: Double
        public var nanosecondsPerRun: Double

        enum CodingKeys: String, CodingKey {
            case program, runsTotal = "runs_total", runSecondsTotal = "run_seconds_total", runsPerSecond = "runs_per_second"
            case nanosecondsPerRun = "ns_per_run"
        }
    }

    public var tracer: String
    /// Events per second over the last `seconds`.
    public var eventsPerSecond: Double
    /// Kernel nanoseconds per event over the last `seconds` (since start when there were none).
    public var nanosecondsPerEvent: Double
    /// Kernel CPU seconds per wall second (0.01: 1 % of one CPU) over the last `seconds`.
    public var cpuSecondsPerSecond: Double
    public var programs: [Program]

    enum CodingKeys: String, CodingKey {
        case tracer, programs, eventsPerSecond = "events_per_second", nanosecondsPerEvent = "ns_per_event"
        case cpuSecondsPerSecond = "cpu_seconds_per_second"
    }
}

/// Snapshots of the program counters, one per drain, kept for `span` seconds.
public struct ProgramCostHistory: Sendable {
    /// Seconds the rates are computed over (the oldest snapshot kept is at least this old).
    public let span: Double
    private var snapshots: [(time: Double, programs: [BPFProgramStatistics])] = []

    public init(span: Double = 10) { self.span = span }

    /// Adds the counters read at `time` (seconds, monotonic).
    public mutating func record(_ programs: [BPFProgramStatistics], at time: Double) {
        snapshots.append((time, programs))
        while snapshots.count > 2, snapshots[1].time <= time - span { snapshots.removeFirst() }
    }

    /// Seconds between the oldest and the newest snapshot.
    public var seconds: Double {
        guard let first = snapshots.first, let last = snapshots.last else { return 0 }
        return last.time - first.time
    }

    /// Per tracer, busiest first.
    public func overhead() -> [TracerOverhead] {
        guard let last = snapshots.last else { return [] }
        let first = snapshots.first!
        let elapsed = max(last.time - first.time, 1e-9)
        let before = Dictionary(first.programs.map { ("\($0.tracer)/\($0.name)", $0) }, uniquingKeysWith: { a, _ in a })
        var byTracer: [String: [TracerOverhead.Program]] = [:]
        var recent: [String: (runs: [UInt64], nanoseconds: UInt64)] = [:]
        for program in last.programs {
            let old = before["\(program.tracer)/\(program.name)"]
            let runs = program.runCount &- (old?.runCount ?? 0), nanoseconds = program.runTimeNanoseconds &- (old?.runTimeNanoseconds ?? 0)
            let window = first.time == last.time ? program.runCount : runs
            let windowNanoseconds = first.time == last.time ? program.runTimeNanoseconds : nanoseconds
            byTracer[program.tracer, default: []].append(TracerOverhead.Program(
                program: program.name, runsTotal: program.runCount, runSecondsTotal: Double(program.runTimeNanoseconds) / 1e9,
                runsPerSecond: first.time == last.time ? 0 : Double(runs) / elapsed,
                nanosecondsPerRun: window > 0 ? Double(windowNanoseconds) / Double(window) : 0))
            recent[program.tracer, default: ([], 0)].runs.append(window)
            recent[program.tracer, default: ([], 0)].nanoseconds += windowNanoseconds
        }
        return byTracer.map { tracer, programs in
            let events = recent[tracer]?.runs.max() ?? 0, nanoseconds = recent[tracer]?.nanoseconds ?? 0
            let measured = first.time != last.time
            return TracerOverhead(tracer: tracer, eventsPerSecond: measured ? Double(events) / elapsed : 0,
                                  nanosecondsPerEvent: events > 0 ? Double(nanoseconds) / Double(events) : 0,
                                  cpuSecondsPerSecond: measured ? Double(nanoseconds) / 1e9 / elapsed : 0,
                                  programs: programs.sorted { $0.program < $1.program })
        }.sorted { ($0.cpuSecondsPerSecond, $1.tracer) > ($1.cpuSecondsPerSecond, $0.tracer) }
    }
}
