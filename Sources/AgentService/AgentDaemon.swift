import AgentCore
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

/// `profiler-agent run`: attach → sample continuously into windows → serve
/// them over HTTP and push them to Pyroscope, until SIGTERM/SIGINT; then close
/// the current window, push it, detach, exit.
public struct AgentDaemon: Sendable {
    public let configuration: DaemonConfiguration

    public init(configuration: DaemonConfiguration) { self.configuration = configuration }

    public func run(log: @escaping @Sendable (String) -> Void) async throws {
        var node: [String: String] = [:]
        if !configuration.profiling.nodeName.isEmpty { node["node"] = configuration.profiling.nodeName }
        let pusher = configuration.pyroscope.map {
            PyroscopePusher(target: $0, labels: node, frequency: configuration.profiling.sampling.frequency)
        }
        let profiler = try ContinuousProfiler(
            options: configuration.profiling, store: WindowStore(budget: configuration.retainBytes),
            hub: SampleHub(capacity: configuration.concurrentProfileRequests),
            report: log, onWindowClosed: { pusher?.enqueue($0, profile: $1) })
        try profiler.attach()
        defer { profiler.detachIfNeverStarted() }

        var logger = Logger(label: "profiler-agent")
        logger.logLevel = .warning
        let host = configuration.host, port = configuration.port
        let app = Application(
            router: HTTPRoutes(profiler: profiler, pusher: pusher, configuration: configuration).router(),
            configuration: .init(address: .hostname(host, port: port), serverName: "profiler-agent"),
            onServerRunning: { channel in
                log("profiler-agent: sampling \(profiler.status.attachedCPUs) CPUs at \(configuration.profiling.sampling.frequency) Hz; serving http://\(host):\(channel.localAddress?.port ?? port)/")
            },
            logger: logger)
        // Shut down in reverse order: sampler (closes the last window), pusher (delivers it), HTTP.
        let group = ServiceGroup(
            services: [app, PusherService(pusher: pusher), SamplerService(profiler: profiler)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        try await group.run()
    }
}

/// Runs the sampling loop on its thread until graceful shutdown.
struct SamplerService: Service {
    let profiler: ContinuousProfiler

    func run() async throws {
        profiler.startThread()
        try? await gracefulShutdown()
        await profiler.shutdown()
    }
}

/// Pushes windows until graceful shutdown, then delivers what is left within a deadline.
struct PusherService: Service {
    let pusher: PyroscopePusher?

    func run() async throws {
        guard let pusher else {
            try? await gracefulShutdown()
            return
        }
        await cancelWhenGracefulShutdown { await pusher.run() }
        await pusher.finish(within: 1.2)
    }
}
