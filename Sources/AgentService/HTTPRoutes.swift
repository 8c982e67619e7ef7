import AgentCore
import Flamegraph
import Foundation
import Hummingbird
import Pprof

/// The agent's HTTP API: pull profiles, flamegraphs, metrics, health.
struct HTTPRoutes: Sendable {
    let profiler: ContinuousProfiler
    let pusher: PyroscopePusher?
    let configuration: DaemonConfiguration
    /// Span and window profiles decode retained pprof: two at a time.
    let decodeGate = ConcurrencyGate(capacity: 2)

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: RefuseRequestBodies())
        router.get("/") { _, _ in html(Self.index) }
        router.get("/healthz") { _, _ in text("ok\n") }
        router.get("/readyz") { _, _ in
            profiler.status.sampling ? text("ready\n") : text("not sampling\n", status: .serviceUnavailable)
        }
        router.get("/metrics") { request, _ in
            let format = MetricsExposition(accept: request.headers[.accept])
            let families = AgentMetrics(profiler: profiler, pusher: pusher, topSyscalls: configuration.topSyscalls).families()
            return text(format.render(families), contentType: format.contentType)
        }
        router.get("/debug/overhead") { _, _ in
            let (tracers, seconds) = profiler.tracerOverhead()
            return try json(OverheadReport(seconds: seconds, tracers: tracers))
        }
        router.get("/debug/pprof/profile") { request, _ in
            let parameters = try HTTPParameters(request: request)
            let seconds = try parameters.integer("seconds", in: 1...configuration.maxProfileSeconds, default: min(30, configuration.maxProfileSeconds))!
            let profile = try await collect(seconds: seconds, pids: try parameters.pids())
            return try encode(profile, as: .pprof, filename: "profile")
        }
        router.get("/debug/pprof/offcpu") { request, _ in
            guard profiler.status.tracers[.offcpu].map({ (try? $0.get()) != nil }) == true else {
                throw HTTPError(.notFound, message: "the offcpu tracer is not running (see --tracers)")
            }
            let parameters = try HTTPParameters(request: request)
            let seconds = try parameters.integer("seconds", in: 1...configuration.maxProfileSeconds, default: min(30, configuration.maxProfileSeconds))!
            var profile = try await collect(seconds: seconds, pids: try parameters.pids(), from: profiler.offCPUHub)
            profile.kind = .offCPU
            return try encode(profile, as: .pprof, filename: "offcpu")
        }
        router.get("/profiles") { request, _ in
            let parameters = try HTTPParameters(request: request)
            let format = try parameters.format()
            if let span = try parameters.spanID("span_id") {
                return try encode(try spanProfile(span).profile, as: format, filename: "span-\(spanIDString(span))")
            }
            return try json(profiler.store.windows.map(WindowSummary.init))
        }
        router.get("/events") { request, _ in
            let parameters = try HTTPParameters(request: request)
            guard let type = parameters.string("type") else {
                throw HTTPError(.badRequest, message: "type is required (type=dns)")
            }
            guard type == "dns" else { throw HTTPError(.badRequest, message: "type must be dns, got '\(type)'") }
            guard profiler.status.tracers[.dns].map({ (try? $0.get()) != nil }) == true else {
                throw HTTPError(.notFound, message: "the dns tracer is not running (see --tracers)")
            }
            let limit = try parameters.integer("limit", in: 1...1000, default: 20)!
            let seconds = try parameters.integer("seconds", in: 1...86_400, default: nil)
            let since = seconds.map { Date().timeIntervalSince1970 - Double($0) } ?? 0
            return try json(profiler.slowestDNSLookups(limit: limit, since: since).map(DNSEventSummary.init))
        }
        router.get("/profiles/:id") { request, context in
            let parameters = try HTTPParameters(request: request)
            let format = try parameters.format()
            let window = try window(context.parameters.get("id") ?? "")
            if format == .pprof { return binary(window.pprof, filename: "window-\(window.id).pb.gz") }
            let profile = try decodeGate.run { PprofReader.cpuProfile(try PprofReader.decode(window.pprof)) }
            return try encode(profile, as: format, filename: "window-\(window.id)")
        }
        router.get("/flamegraph") { request, _ in
            let parameters = try HTTPParameters(request: request)
            let view = try parameters.choice("view", in: ["cpu", "offcpu", "events"])
            if let id = parameters.string("id") {
                return try windowPage(try window(id), view: view)
            }
            if let span = try parameters.spanID("span_id") {
                return try spanPage(span, view: view)
            }
            let seconds = try parameters.integer("seconds", in: 1...configuration.maxProfileSeconds, default: min(10, configuration.maxProfileSeconds))!
            let profile = try await collect(seconds: seconds, pids: try parameters.pids())
            let subtitle = "\(profile.totalCount) samples at \(profile.frequency) Hz, \(Self.timestamp(profile.startNanos))"
            return html(FlamegraphPage.html(title: "CPU profile, \(seconds) s", subtitle: subtitle, stacks: flameStacks(profile.samples)))
        }
        return router
    }

    /// Samples of the next `seconds`, as a profile.
    private func collect(seconds: Int, pids: Set<Int32>, from hub: SampleHub? = nil) async throws -> CPUProfile {
        let start = Int64(Date().timeIntervalSince1970 * 1e9)
        let clock = ContinuousClock.now
        let samples: [StackSample]
        do {
            samples = try await (hub ?? profiler.hub).collect(seconds: Double(seconds), pids: pids)
        } catch .busy(let limit) {
            throw HTTPError(.tooManyRequests, message: "at most \(limit) profile requests are served at once; retry later")
        } catch .stopping {
            throw HTTPError(.serviceUnavailable, message: "the agent is shutting down")
        }
        let elapsed = ContinuousClock.now - clock
        return CPUProfile(samples: samples, startNanos: start, durationNanos: Int64(elapsed / .nanoseconds(1)),
                          frequency: configuration.profiling.sampling.frequency)
    }

    /// The CPU samples, off-CPU time and event stacks labelled with `span` in the
    /// retained windows and the one being filled.
    private func spanProfile(_ span: UInt64) throws -> (profile: CPUProfile, record: SpanRecord) {
        guard let found = profiler.store.span(span) else {
            throw HTTPError(.notFound, message: "the agent holds nothing of span_id \(spanIDString(span)) (expired, or never sampled nor an exemplar)")
        }
        var merged = SampleAggregator()
        merged.add(found.samples)
        return (CPUProfile(samples: merged.samples, startNanos: found.startNanos, durationNanos: found.endNanos - found.startNanos,
                           frequency: configuration.profiling.sampling.frequency, kind: .mixed), found)
    }

    private func window(_ rawID: String) throws -> ProfileWindow {
        guard let id = UInt64(rawID) else { throw HTTPError(.badRequest, message: "window id must be a number, got '\(rawID)'") }
        guard let window = profiler.store.window(id: id) else {
            throw HTTPError(.notFound, message: "no retained window \(id) (see /profiles)")
        }
        return window
    }

    private func encode(_ profile: CPUProfile, as format: OutputFormat, filename: String) throws -> Response {
        switch format {
        case .pprof: binary(try PprofWriter().encode(profile), filename: filename + ".pb.gz")
        case .folded: text(FoldedWriter().encode(profile))
        }
    }

    /// Stacks for the page, rooted at the thread's command name.
    private func flameStacks(_ samples: [StackSample]) -> [FlameStack] {
        samples.map { sample in
            let frames = sample.frames.reversed()
            return FlameStack(frames: [sample.comm] + frames.map(\.function),
                              kernel: [false] + frames.map { $0.mapping?.isKernel == true },
                              python: [false] + frames.map { $0.kind == .python }, count: sample.count)
        }
    }

    /// One span's page: what the event was, and its CPU samples, off-CPU time or
    /// event stacks (`view`; by default the first it has), with links to the others.
    private func spanPage(_ span: UInt64, view: String?) throws -> Response {
        let (profile, record) = try spanProfile(span)
        let id = spanIDString(span)
        let kinds: [(String, SampleKind, String, FlameUnit)] = [
            ("cpu", .cpu, "CPU samples", .samples), ("offcpu", .offCPU, "Off-CPU time", .nanoseconds), ("events", .event, "Event stacks", .events),
        ]
        let totals = kinds.map { kind in profile.samples.filter { $0.kind == kind.1 }.reduce(Int64(0)) { $0 + $1.count } }
        let requested = view.flatMap { v in kinds.firstIndex { $0.0 == v } }
        let chosen: Int = requested ?? totals.firstIndex { $0 > 0 } ?? 0
        let views = kinds.indices.map { i in
            FlameView(label: "\(kinds[i].2) (\(kinds[i].3.format(totals[i])))", href: "/flamegraph?span_id=\(id)&view=\(kinds[i].0)", current: i == chosen)
        } + [FlameView(label: "pprof", href: "/profiles?span_id=\(id)", current: false)]
        let event = SpanDescription(record: record, dns: profiler.dnsLookup(span: span), clock: MonotonicToWall())
        let samples = profile.samples.filter { $0.kind == kinds[chosen].1 }
        let subtitle = "\(kinds[chosen].2) of span \(id)" + (kinds[chosen].1 == .cpu ? " at \(profile.frequency) Hz" : "")
        return html(FlamegraphPage.html(title: event.title, subtitle: subtitle, stacks: flameStacks(samples), unit: kinds[chosen].3,
                                        details: event.details, views: views))
    }

    /// One window's page: CPU samples or off-CPU time (`view`), with a link to the other.
    private func windowPage(_ window: ProfileWindow, view: String?) throws -> Response {
        let offCPU = view == "offcpu"
        if offCPU && window.offCPUPprof == nil {
            throw HTTPError(.notFound, message: "window \(window.id) has no off-CPU profile (the offcpu tracer was not running)")
        }
        let profile = try decodeGate.run { PprofReader.cpuProfile(try PprofReader.decode(offCPU ? window.offCPUPprof! : window.pprof)) }
        var views = [FlameView(label: "CPU samples (\(FlameUnit.samples.format(window.sampleCount)))", href: "/flamegraph?id=\(window.id)", current: !offCPU)]
        if window.offCPUPprof != nil {
            views.append(FlameView(label: "Off-CPU time", href: "/flamegraph?id=\(window.id)&view=offcpu", current: offCPU))
        }
        views.append(FlameView(label: "pprof", href: "/profiles/\(window.id)", current: false))
        let range = "\(Self.timestamp(window.startNanos)) – \(Self.timestamp(window.endNanos))"
        let subtitle = offCPU ? "Off-CPU time (ms), \(range)" : "\(profile.totalCount) samples at \(profile.frequency) Hz, \(range)"
        return html(FlamegraphPage.html(title: "\(offCPU ? "Off-CPU" : "CPU") profile window \(window.id)", subtitle: subtitle,
                                        stacks: flameStacks(profile.samples), unit: offCPU ? .nanoseconds : .samples, views: views))
    }

    static func timestamp(_ nanos: Int64) -> String {
        Date(timeIntervalSince1970: Double(nanos) / 1e9).formatted(.iso8601)
    }

    static let index = """
        <!doctype html><html><head><meta charset="utf-8"><title>profiler-agent</title></head>
        <body style="font-family:sans-serif"><h1>profiler-agent</h1><ul>
        <li><a href="/flamegraph?seconds=10">/flamegraph?seconds=10</a> — flamegraph of the next 10 s (or <code>?id=WINDOW</code>)</li>
        <li><a href="/profiles">/profiles</a> — retained windows; <code>/profiles/ID</code> their pprof (<code>?format=folded</code>)</li>
        <li><code>/debug/pprof/profile?seconds=N[&amp;pid=P]</code> — pprof of the next N seconds (<code>go tool pprof</code>)</li>
        <li><code>/debug/pprof/offcpu?seconds=N[&amp;pid=P]</code> — off-CPU time by stack of the next N seconds</li>
        <li><code>/profiles?span_id=ID</code> — CPU and off-CPU stacks of one traced event (the exemplars' link)</li>
        <li><a href="/events?type=dns">/events?type=dns</a> — the slowest recent DNS lookups (<code>&amp;limit=N&amp;seconds=S</code>)</li>
        <li><a href="/metrics">/metrics</a> — Prometheus / OpenMetrics</li>
        <li><a href="/debug/overhead">/debug/overhead</a> — each tracer's kernel cost: events per second, ns per event</li>
        <li><a href="/healthz">/healthz</a>, <a href="/readyz">/readyz</a></li>
        </ul></body></html>
        """
}

/// `GET /debug/overhead`: each tracer's kernel cost over the last seconds.
struct OverheadReport: Codable {
    var seconds: Double
    var bpfStats: Bool
    var tracers: [TracerOverhead]

    init(seconds: Double, tracers: [TracerOverhead]) {
        self.seconds = seconds
        self.bpfStats = !tracers.isEmpty
        self.tracers = tracers
    }

    enum CodingKeys: String, CodingKey { case seconds, tracers, bpfStats = "bpf_stats" }
}

/// One row of `GET /profiles`.
struct WindowSummary: Codable {
    var id: UInt64
    var start: String
    var end: String
    var samples: Int64
    var stacks: Int
    var bytes: Int
    var url: String

    init(_ window: ProfileWindow) {
        id = window.id
        start = HTTPRoutes.timestamp(window.startNanos)
        end = HTTPRoutes.timestamp(window.endNanos)
        samples = window.sampleCount
        stacks = window.stackCount
        bytes = window.pprof.count
        url = "/profiles/\(window.id)"
    }
}

/// One row of `GET /events?type=dns`.
struct DNSEventSummary: Codable {
    var host: String
    var durationSeconds: Double
    var result: String
    var returnCode: Int32
    var time: String
    var pid: Int32
    var tid: Int32
    var comm: String
    var spanID: String
    /// Where the lookup was called from (caller first), when the call site is known.
    var callers: [String]
    /// The profile of this lookup (404 until its window closes, or when it was too short to label samples).
    var profile: String

    init(_ event: DNSEvent) {
        host = event.lookup.host
        durationSeconds = Double(event.lookup.durationNanoseconds) / 1e9
        result = event.lookup.succeeded ? "ok" : "error"
        returnCode = event.lookup.returnCode
        time = Date(timeIntervalSince1970: event.time).formatted(.iso8601)
        pid = event.lookup.pid
        tid = event.lookup.tid
        comm = event.lookup.comm
        spanID = spanIDString(event.lookup.spanID)
        callers = event.callers
        profile = "/profiles?span_id=\(spanID)"
    }

    enum CodingKeys: String, CodingKey {
        case host, result, time, pid, tid, comm, callers, profile
        case durationSeconds = "duration_seconds", returnCode = "return_code", spanID = "span_id"
    }
}

func text(_ body: String, status: HTTPResponse.Status = .ok, contentType: String = "text/plain; charset=utf-8") -> Response {
    Response(status: status, headers: [.contentType: contentType], body: .init(byteBuffer: ByteBuffer(string: body)))
}

func html(_ body: String) -> Response {
    text(body, contentType: "text/html; charset=utf-8")
}

func binary(_ data: Data, filename: String) -> Response {
    Response(status: .ok, headers: [.contentType: "application/octet-stream", .contentDisposition: "attachment; filename=\"\(filename)\""],
             body: .init(byteBuffer: ByteBuffer(bytes: data)))
}

func json<T: Encodable>(_ value: T) throws -> Response {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
}
