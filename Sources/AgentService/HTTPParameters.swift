import AgentCore
import Hummingbird

/// Query-string parsing with 400 answers that say what was wrong.
struct HTTPParameters {
    let request: Request

    func string(_ name: String) -> String? {
        request.uri.queryParameters[name[...]].map(String.init)
    }

    /// An integer in `range`; `fallback` when absent.
    func integer(_ name: String, in range: ClosedRange<Int>, default fallback: Int? = nil) throws -> Int? {
        guard let raw = string(name) else { return fallback }
        guard let value = Int(raw), range.contains(value) else {
            throw HTTPError(.badRequest, message: "\(name) must be an integer from \(range.lowerBound) to \(range.upperBound), got '\(raw)'")
        }
        return value
    }

    /// Comma-separated or repeated `pid=` values.
    func pids() throws -> Set<Int32> {
        var pids: Set<Int32> = []
        for raw in request.uri.queryParameters.getAll("pid") {
            for part in raw.split(separator: ",") {
                guard let pid = Int32(part), pid > 0 else {
                    throw HTTPError(.badRequest, message: "pid must be a positive integer, got '\(part)'")
                }
                pids.insert(pid)
            }
        }
        return pids
    }

    /// A span id: 1–16 hex digits.
    func spanID(_ name: String) throws -> UInt64? {
        guard let raw = string(name) else { return nil }
        guard raw.count <= 16, let id = UInt64(raw, radix: 16), id != 0 else {
            throw HTTPError(.badRequest, message: "\(name) must be 16 hex digits, got '\(raw)'")
        }
        return id
    }

    func format() throws -> OutputFormat {
        guard let raw = string("format") else { return .pprof }
        guard let format = OutputFormat(rawValue: raw) else {
            throw HTTPError(.badRequest, message: "format must be pprof or folded, got '\(raw)'")
        }
        return format
    }
}
