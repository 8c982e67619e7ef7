import AgentCore
import Foundation
import Yams

/// Resolves `run`'s settings: a command-line flag wins over the environment
/// (`PROFILER_AGENT_<KEY>`), which wins over the YAML file (`--config`), which
/// wins over the default. Keys are the long flag names (`window`, `pyroscope-url`, …).
public struct Settings {
    /// Every key `run` understands, for validating the YAML file.
    public static let keys: Set<String> = [
        "listen", "window", "retain", "frequency", "pid", "cgroup", "comm", "exclude-kernel-threads", "full-swift-names", "unwinder", "unwind-table-budget", "node-name",
        "pyroscope-url", "pyroscope-app", "push-queue", "max-profile-seconds", "btf", "debug-dir",
        "tracers", "offcpu-min-block", "syscall-top", "syscall-containers", "exemplar-interval",
    ]

    /// Keys that take several values (comma-separated in the environment).
    static let listKeys: Set<String> = ["pid", "debug-dir", "tracers"]

    let flags: [String: [String]]
    let environment: [String: String]
    let file: [String: [String]]

    public init(flags: [String: [String]], environment: [String: String], configPath: String?) throws(AgentError) {
        self.flags = flags.filter { !$0.value.isEmpty }
        self.environment = environment
        guard let path = configPath ?? environment["PROFILER_AGENT_CONFIG"] else {
            file = [:]
            return
        }
        file = try Self.load(path)
    }

    static func environmentName(_ key: String) -> String {
        "PROFILER_AGENT_" + key.uppercased().replacingOccurrences(of: "-", with: "_")
    }

    /// The values of `key` and where they came from ("--key", "$ENV", "config file").
    func values(_ key: String) -> (values: [String], origin: String)? {
        if let values = flags[key] { return (values, "--\(key)") }
        let env = Self.environmentName(key)
        if let value = environment[env] {
            guard Self.listKeys.contains(key) else { return ([value], "$\(env)") }
            return (value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }, "$\(env)")
        }
        if key == "node-name", let value = environment["NODE_NAME"] { return ([value], "$NODE_NAME") }
        if let values = file[key] { return (values, "config file key '\(key)'") }
        return nil
    }

    func string(_ key: String) -> String? { values(key)?.values.last }

    func list(_ key: String) -> [String] { values(key)?.values ?? [] }

    func integer(_ key: String, default fallback: Int, in range: ClosedRange<Int>) throws(AgentError) -> Int {
        guard let (values, origin) = values(key), let raw = values.last else { return fallback }
        guard let value = Int(raw), range.contains(value) else {
            throw .invalidOption("\(origin): '\(raw)' is not an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    func seconds(_ key: String, default fallback: Double, in range: ClosedRange<Double>) throws(AgentError) -> Double {
        guard let (values, origin) = values(key), let raw = values.last else { return fallback }
        var number = raw, scale = 1.0
        for (suffix, factor) in [("ms", 1e-3), ("us", 1e-6), ("s", 1.0)] where raw.hasSuffix(suffix) {
            number = String(raw.dropLast(suffix.count))
            scale = factor
            break
        }
        guard let parsed = Double(number), case let value = parsed * scale, range.contains(value) else {
            throw .invalidOption("\(origin): '\(raw)' is not a number of seconds from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    func bool(_ key: String) throws(AgentError) -> Bool {
        guard let (values, origin) = values(key), let raw = values.last?.lowercased() else { return false }
        switch raw {
        case "true", "yes", "1", "on": return true
        case "false", "no", "0", "off": return false
        default: throw .invalidOption("\(origin): '\(raw)' is not true or false")
        }
    }

    /// Sizes such as 16MiB, 512KiB, 1GiB, 1048576.
    func bytes(_ key: String, default fallback: Int) throws(AgentError) -> Int {
        guard let (values, origin) = values(key), let raw = values.last else { return fallback }
        let units: [(String, Int)] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10), ("GB", 1_000_000_000), ("MB", 1_000_000), ("KB", 1000), ("B", 1)]
        var number = raw, scale = 1
        for (suffix, factor) in units where raw.hasSuffix(suffix) {
            number = String(raw.dropLast(suffix.count))
            scale = factor
            break
        }
        guard let value = Double(number.trimmingCharacters(in: .whitespaces)), value >= 0, value * Double(scale) < 1e12 else {
            throw .invalidOption("\(origin): '\(raw)' is not a size (e.g. 16MiB)")
        }
        return Int(value * Double(scale))
    }

    static func load(_ path: String) throws(AgentError) -> [String: [String]] {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw .invalidOption("cannot read config file \(path): \(error.localizedDescription)")
        }
        let parsed: Any?
        do { parsed = try Yams.load(yaml: text) } catch {
            throw .invalidOption("config file \(path) is not valid YAML: \(error)")
        }
        guard let parsed else { return [:] }
        guard let mapping = parsed as? [String: Any] else { throw .invalidOption("config file \(path) must be a mapping of keys to values") }
        var result: [String: [String]] = [:]
        for (key, value) in mapping {
            guard keys.contains(key) else {
                throw .invalidOption("config file \(path): unknown key '\(key)' (known: \(keys.sorted().joined(separator: ", ")))")
            }
            if let list = value as? [Any] { result[key] = list.map { "\($0)" } } else { result[key] = ["\(value)"] }
        }
        return result
    }
}
