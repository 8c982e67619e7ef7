import Hummingbird
import Symbolizer

/// The API takes no input but its query string: a request with a body is
/// answered 413 before any handler runs (the body is never read).
struct RefuseRequestBodies<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let length = request.headers[.contentLength].flatMap { Int($0) } ?? 0
        if length > 0 || request.headers[.transferEncoding] != nil {
            return text("profiler-agent takes no request bodies: parameters go in the query string\n",
                        status: .contentTooLarge)
        }
        return try await next(request, context)
    }
}

/// At most `capacity` holders at once: bounds CPU-heavy work requests can start
/// (decoding retained windows for a span profile), so that a burst of them
/// cannot take the CPUs the sampler runs on.
final class ConcurrencyGate: Sendable {
    let capacity: Int
    private let inUse = Locked(0)

    init(capacity: Int) { self.capacity = capacity }

    /// Runs `body` if a slot is free; else 429.
    func run<T>(_ body: () throws -> T) throws -> T {
        let entered = inUse.withLock { count in
            guard count < capacity else { return false }
            count += 1
            return true
        }
        guard entered else {
            throw HTTPError(.tooManyRequests, message: "at most \(capacity) span or window profiles are decoded at once; retry later")
        }
        defer { inUse.withLock { $0 -= 1 } }
        return try body()
    }
}
