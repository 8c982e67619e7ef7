import AgentCore
import Hummingbird
import QueryParsing

/// A request's query parameters; malformed ones answer 400 with what was wrong.
struct HTTPParameters {
    let query: QueryParameters

    init(request: Request) throws {
        do {
            query = try QueryParameters(query: request.uri.query ?? "")
        } catch {
            throw HTTPError(.badRequest, message: error.message)
        }
    }

    func string(_ name: String) -> String? { query.string(name) }

    /// An integer in `range`; `fallback` when absent.
    func integer(_ name: String, in range: ClosedRange<Int>, default fallback: Int? = nil) throws -> Int? {
        try badRequest { () throws(ParameterError) in try query.integer(name, in: range, default: fallback) }
    }

    /// Comma-separated or repeated `pid=` values.
    func pids() throws -> Set<Int32> {
        try badRequest { () throws(ParameterError) in try query.pids() }
    }

    /// A span id: 1–16 hex digits.
    func spanID(_ name: String) throws -> UInt64? {
        try badRequest { () throws(ParameterError) in try query.spanID(name) }
    }

    /// One of `values`; nil when absent.
    func choice(_ name: String, in values: [String]) throws -> String? {
        try badRequest { () throws(ParameterError) in try query.choice(name, of: values, default: nil) }
    }

    func format() throws -> OutputFormat {
        let raw = try badRequest { () throws(ParameterError) in
            try query.choice("format", of: OutputFormat.allCases.map(\.rawValue), default: OutputFormat.pprof.rawValue)
        }
        return OutputFormat(rawValue: raw!)!
    }

    private func badRequest<T>(_ body: () throws(ParameterError) -> T) throws -> T {
        do { return try body() } catch { throw HTTPError(.badRequest, message: error.message) }
    }
}
