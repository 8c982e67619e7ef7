import Foundation
import Symbolizer

/// Reads gzipped pprof back (tests, receivers) and flattens it for inspection.
public enum PprofReader {
    /// Decodes a gzipped (or plain) serialized `Profile`.
    public static func decode(_ data: Data) throws -> Perftools_Profiles_Profile {
        let raw = data.starts(with: [0x1f, 0x8b]) ? try Gzip.decompress(data) : data
        return try Perftools_Profiles_Profile(serializedBytes: raw)
    }

    /// A sample as names: function names leaf first, values, string labels and numeric labels.
    public struct FlatSample: Sendable {
        public var functions: [String]
        /// Mapping file name of each frame, parallel to `functions`.
        public var mappings: [String]
        /// Address of each frame (as sampled: return addresses for callers), parallel to `functions`.
        public var addresses: [UInt64] = []
        /// Source file of each interpreted frame (a function without a mapping, e.g. Python), "" for native ones.
        public var sourceFiles: [String] = []
        /// Source line of each frame (0 when unknown), parallel to `functions`.
        public var lines: [Int64] = []
        public var values: [Int64]
        public var labels: [String: String]
        public var numericLabels: [String: Int64]
    }

    /// Every sample of `profile` with names resolved through its tables.
    public static func flatten(_ profile: Perftools_Profiles_Profile) -> [FlatSample] {
        let strings = profile.stringTable
        func string(_ index: Int64) -> String { index >= 0 && Int(index) < strings.count ? strings[Int(index)] : "<bad string \(index)>" }
        let functions = Dictionary(profile.function.map { ($0.id, string($0.name)) }, uniquingKeysWith: { a, _ in a })
        let functionFiles = Dictionary(profile.function.map { ($0.id, string($0.filename)) }, uniquingKeysWith: { a, _ in a })
        let mappings = Dictionary(profile.mapping.map { ($0.id, string($0.filename)) }, uniquingKeysWith: { a, _ in a })
        let locations = Dictionary(profile.location.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        return profile.sample.map { sample in
            var names: [String] = [], files: [String] = [], addresses: [UInt64] = [], sources: [String] = [], lines: [Int64] = []
            for id in sample.locationID {
                let location = locations[id]
                addresses.append(location?.address ?? 0)
                let line = location?.line.first
                lines.append(line?.line ?? 0)
                sources.append(location?.mappingID == 0 ? line.flatMap { functionFiles[$0.functionID] } ?? "" : "")
                names.append(location?.line.first.flatMap { functions[$0.functionID] } ?? "<no function>")
                files.append(location.flatMap { mappings[$0.mappingID] } ?? "")
            }
            var labels: [String: String] = [:], numeric: [String: Int64] = [:]
            for label in sample.label {
                if label.str != 0 { labels[string(label.key)] = string(label.str) } else { numeric[string(label.key)] = label.num }
            }
            return FlatSample(functions: names, mappings: files, addresses: addresses, sourceFiles: sources, lines: lines, values: sample.value,
                              labels: labels, numericLabels: numeric)
        }
    }

    /// Rebuilds the `CPUProfile` a `PprofWriter` wrote (frames, counts, labels),
    /// so stored windows can be filtered, merged and re-encoded.
    public static func cpuProfile(_ profile: Perftools_Profiles_Profile) -> CPUProfile {
        let strings = profile.stringTable
        func string(_ index: Int64) -> String { index >= 0 && Int(index) < strings.count ? strings[Int(index)] : "" }
        var mappings: [UInt64: BinaryMapping] = [:]
        for m in profile.mapping {
            mappings[m.id] = BinaryMapping(start: m.memoryStart, limit: m.memoryLimit, fileOffset: m.fileOffset,
                                           path: string(m.filename), buildID: string(m.buildID))
        }
        var functions: [UInt64: Perftools_Profiles_Function] = [:]
        for f in profile.function { functions[f.id] = f }
        var locations: [UInt64: Frame] = [:]
        for l in profile.location {
            let line = l.line.first
            guard let function = line.flatMap({ functions[$0.functionID] }) else {
                locations[l.id] = Frame(function: "[unknown]", systemName: "[unknown]", address: l.address, mapping: mappings[l.mappingID])
                continue
            }
            let mapping = mappings[l.mappingID]
            // PprofWriter gives interpreted functions (no mapping) their source file.
            let file = mapping == nil ? string(function.filename) : ""
            locations[l.id] = Frame(function: string(function.name), systemName: string(function.systemName), address: l.address,
                                    mapping: mapping, kind: file.isEmpty ? nil : .python, file: file,
                                    line: Int(line?.line ?? 0), startLine: Int(function.startLine))
        }
        let types = profile.sampleType.map { string($0.type) }
        let kind: ProfileKind = types.first == "offcpu" ? .offCPU : (types.count >= 3 ? .mixed : .cpu)
        let frequency = kind != .offCPU && profile.period > 0 ? Int((1e9 / Double(profile.period)).rounded()) : 97
        let samples = profile.sample.map { s -> StackSample in
            var sample = StackSample(frames: s.locationID.compactMap { locations[$0] }, count: s.value.first ?? 0, pid: 0, tid: 0, comm: "")
            switch kind {
            case .offCPU: sample.offCPU = true
            case .mixed where s.value.count >= 3 && s.value[2] > 0:
                sample.offCPU = true
                sample.count = s.value[2]
            case .mixed where s.value.count >= 4 && s.value[3] > 0:
                sample.kind = .event
                sample.count = s.value[3]
            default: break
            }
            for label in s.label {
                let key = string(label.key)
                switch key {
                case "pid": sample.pid = Int32(truncatingIfNeeded: label.num)
                case "tid": sample.tid = Int32(truncatingIfNeeded: label.num)
                case "comm": sample.comm = string(label.str)
                case "span_id": sample.spanID = UInt64(string(label.str), radix: 16) ?? 0
                default: sample.labels[key] = string(label.str)
                }
            }
            return sample
        }
        return CPUProfile(samples: samples, startNanos: profile.timeNanos, durationNanos: profile.durationNanos, frequency: frequency, kind: kind)
    }
}
