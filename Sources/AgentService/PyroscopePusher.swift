import AgentCore
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Pprof
import Symbolizer

/// Pushes closed windows to Pyroscope's `/ingest` from a bounded queue, with
/// retries and exponential backoff. Enqueueing never blocks: when the queue is
/// full the oldest window is dropped and counted. Sampling never waits on this.
public final class PyroscopePusher: Sendable {
    public struct Statistics: Sendable, Equatable {
        /// Windows delivered.
        public var ok: UInt64 = 0
        /// Failed attempts (each retry counts).
        public var failed: UInt64 = 0
        /// Windows given up on: queue overflow or attempts exhausted.
        public var dropped: UInt64 = 0
        public var queued = 0
    }

    /// A window ready to send: its range and its profile encoded for Pyroscope.
    struct QueuedWindow {
        var window: ProfileWindow
        /// Gzipped pprof without pid/tid labels: Pyroscope makes series of sample labels.
        var body: Data
    }

    private struct State {
        var queue: [QueuedWindow] = []
        var statistics = Statistics()
        var closing = false
    }

    public let target: PyroscopeTarget
    private let labels: [String: String]
    private let frequency: Int
    private let client: HTTPClient
    private let state = Locked(State())

    public init(target: PyroscopeTarget, labels: [String: String], frequency: Int) {
        self.target = target
        self.labels = labels
        self.frequency = frequency
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(2), read: .seconds(5))
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    public var statistics: Statistics {
        state.withLock { state in
            var s = state.statistics
            s.queued = state.queue.count
            return s
        }
    }

    /// Queues a closed window, with the profile it was encoded from, for pushing
    /// (drops the oldest when full). Encodes its push body now: the stored pprof is not decoded again.
    public func enqueue(_ window: ProfileWindow, profile: CPUProfile) {
        guard let body = try? PprofWriter(threadLabels: false).encode(profile) else {
            state.withLock { $0.statistics.dropped += 1 }
            return
        }
        state.withLock { state in
            state.queue.append(QueuedWindow(window: window, body: body))
            while state.queue.count > target.queueCapacity {
                state.queue.removeFirst()
                state.statistics.dropped += 1
            }
        }
    }

    /// Delivers queued windows until cancelled or `finish` is called.
    public func run() async {
        while !Task.isCancelled, !state.withLock({ $0.closing }) {
            if let window = next() {
                await deliver(window, deadline: nil)
            } else {
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// Stops the worker, then tries to deliver what is queued before `deadline` (uptime).
    public func finish(within seconds: Double) async {
        state.withLock { $0.closing = true }
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        // Newest first: the window closed by the shutdown matters most.
        while ContinuousClock.now < deadline, let window = state.withLock({ $0.queue.popLast() }) {
            await deliver(window, deadline: deadline)
        }
        state.withLock { state in
            state.statistics.dropped += UInt64(state.queue.count)
            state.queue.removeAll()
        }
        try? await client.shutdown()
    }

    private func next() -> QueuedWindow? {
        state.withLock { $0.queue.isEmpty ? nil : $0.queue.removeFirst() }
    }

    private func deliver(_ window: QueuedWindow, deadline: ContinuousClock.Instant?) async {
        guard let request = try? makeRequest(window) else {
            state.withLock { $0.statistics.dropped += 1 }
            return
        }
        var delay = Duration.milliseconds(500)
        for attempt in 1...max(target.attempts, 1) {
            var timeout = TimeAmount.seconds(10)
            if let deadline { timeout = .milliseconds(max(Int64((deadline - ContinuousClock.now) / .milliseconds(1)), 1)) }
            do {
                let response = try await client.execute(request, timeout: timeout)
                _ = try? await response.body.collect(upTo: 1 << 16)
                if (200..<300).contains(response.status.code) {
                    state.withLock { $0.statistics.ok += 1 }
                    return
                }
            } catch {}
            if Task.isCancelled && deadline == nil {
                // Shutting down mid-attempt: keep the window for `finish`.
                state.withLock { $0.queue.insert(window, at: 0) }
                return
            }
            state.withLock { $0.statistics.failed += 1 }
            let stopping = state.withLock { $0.closing }
            if attempt == target.attempts || Task.isCancelled { break }
            if let deadline, ContinuousClock.now + delay >= deadline { break }
            if stopping && deadline == nil { break }
            try? await Task.sleep(for: delay)
            delay = min(delay * 2, .seconds(8))
        }
        state.withLock { $0.statistics.dropped += 1 }
    }

    /// `POST {url}/ingest?name=APP.cpu{labels}&from=&until=&format=pprof` with the
    /// profile as the `profile` part of a multipart form, as Pyroscope's SDKs send it.
    func makeRequest(_ queued: QueuedWindow) throws -> HTTPClientRequest {
        let window = queued.window, body = queued.body
        let boundary = "profiler-agent-\(window.id)-\(UInt64.random(in: 0...UInt64.max))"
        var form = Data()
        form.append(Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"profile\"; filename=\"profile.pprof\"\r\n".utf8))
        form.append(Data("Content-Type: application/octet-stream\r\n\r\n".utf8))
        form.append(body)
        form.append(Data("\r\n--\(boundary)--\r\n".utf8))

        let name = "\(target.application).cpu{" + labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",") + "}"
        guard var components = URLComponents(string: target.url) else { throw AgentError.invalidOption("bad Pyroscope URL \(target.url)") }
        components.path = (components.path.hasSuffix("/") ? String(components.path.dropLast()) : components.path) + "/ingest"
        components.fragment = nil
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "+&=;")
        func encode(_ value: String) -> String { value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value }
        components.percentEncodedQuery = [
            ("name", name), ("from", String(window.startNanos / 1_000_000_000)),
            ("until", String((window.endNanos + 999_999_999) / 1_000_000_000)), ("format", "pprof"),
            ("sampleRate", String(frequency)), ("spyName", "profiler-agent"),
        ].map { "\($0.0)=\(encode($0.1))" }.joined(separator: "&")
        guard let url = components.url?.absoluteString else { throw AgentError.invalidOption("bad Pyroscope URL \(target.url)") }
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "multipart/form-data; boundary=\(boundary)")
        request.headers.add(name: "User-Agent", value: "profiler-agent")
        request.body = .bytes(ByteBuffer(bytes: form))
        return request
    }
}
