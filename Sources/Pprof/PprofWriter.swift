import Foundation
import Symbolizer

/// Encodes a `CPUProfile` as pprof (`profile.proto`), gzipped as `go tool pprof` expects.
///
/// Mappings, locations, functions and strings are each written once and
/// referenced by id; every function is already symbolised (`has_functions`).
public struct PprofWriter {
    /// Write the numeric `pid` and `tid` labels (off for pushes to stores that
    /// turn every label into a series).
    public var threadLabels: Bool

    public init(threadLabels: Bool = true) { self.threadLabels = threadLabels }

    /// The gzipped profile.
    public func encode(_ profile: CPUProfile) throws -> Data {
        try Gzip.compress(try message(for: profile).serializedData())
    }

    /// The profile as a protobuf message (not yet serialised).
    public func message(for profile: CPUProfile) -> Perftools_Profiles_Profile {
        var builder = Builder()
        var out = Perftools_Profiles_Profile()
        switch profile.kind {
        case .cpu, .mixed:
            out.sampleType = [builder.valueType("samples", "count"), builder.valueType("cpu", "nanoseconds")]
            out.periodType = builder.valueType("cpu", "nanoseconds")
            out.period = profile.periodNanos
            out.defaultSampleType = builder.string("cpu")
            if profile.kind == .mixed {
                out.sampleType += [builder.valueType("offcpu", "nanoseconds"), builder.valueType("events", "count")]
                // A span without CPU samples opens on what it has: its off-CPU time, else its event's stacks.
                let has = { (kind: SampleKind) in profile.samples.contains { $0.kind == kind && $0.count > 0 } }
                if !has(.cpu) { out.defaultSampleType = builder.string(has(.offCPU) ? "offcpu" : "events") }
            }
        case .offCPU:
            out.sampleType = [builder.valueType("offcpu", "nanoseconds")]
            out.periodType = builder.valueType("offcpu", "nanoseconds")
            out.period = 1
            out.defaultSampleType = builder.string("offcpu")
        }
        out.timeNanos = profile.startNanos
        out.durationNanos = profile.durationNanos

        let pidKey = threadLabels ? builder.string("pid") : 0, tidKey = threadLabels ? builder.string("tid") : 0
        let commKey = builder.string("comm"), spanKey = builder.string("span_id")
        out.sample.reserveCapacity(profile.samples.count)
        for sample in profile.samples {
            var s = Perftools_Profiles_Sample()
            s.locationID = sample.frames.map { builder.location(for: $0) }
            switch profile.kind {
            case .cpu: s.value = [sample.count, sample.count * profile.periodNanos]
            case .offCPU: s.value = [sample.count]
            case .mixed:
                switch sample.kind {
                case .cpu: s.value = [sample.count, sample.count * profile.periodNanos, 0, 0]
                case .offCPU: s.value = [0, 0, sample.count, 0]
                case .event: s.value = [0, 0, 0, sample.count]
                }
            }
            var labels = threadLabels ? [label(pidKey, num: Int64(sample.pid)), label(tidKey, num: Int64(sample.tid))] : []
            labels.append(label(commKey, str: builder.string(sample.comm)))
            if sample.spanID != 0 { labels.append(label(spanKey, str: builder.string(spanIDString(sample.spanID)))) }
            for (key, value) in sample.labels.sorted(by: { $0.key < $1.key }) {
                labels.append(label(builder.string(key), str: builder.string(value)))
            }
            s.label = labels
            out.sample.append(s)
        }
        out.mapping = builder.mappings
        out.location = builder.locations
        out.function = builder.functions
        out.stringTable = builder.strings
        return out
    }

    private func label(_ key: Int64, num: Int64) -> Perftools_Profiles_Label {
        var l = Perftools_Profiles_Label()
        l.key = key
        l.num = num
        return l
    }

    private func label(_ key: Int64, str: Int64) -> Perftools_Profiles_Label {
        var l = Perftools_Profiles_Label()
        l.key = key
        l.str = str
        return l
    }

    /// Interning tables for one profile.
    private struct Builder {
        var strings: [String] = [""]
        var stringIndex: [String: Int64] = ["": 0]
        var mappings: [Perftools_Profiles_Mapping] = []
        var mappingIndex: [BinaryMapping: UInt64] = [:]
        var functions: [Perftools_Profiles_Function] = []
        var functionIndex: [FunctionKey: UInt64] = [:]
        var locations: [Perftools_Profiles_Location] = []
        var locationIndex: [LocationKey: UInt64] = [:]

        struct FunctionKey: Hashable { var name: String; var systemName: String; var file: String; var startLine: Int }
        struct LocationKey: Hashable { var mapping: UInt64; var address: UInt64; var function: UInt64; var line: Int }

        mutating func string(_ s: String) -> Int64 {
            if let index = stringIndex[s] { return index }
            let index = Int64(strings.count)
            strings.append(s)
            stringIndex[s] = index
            return index
        }

        mutating func valueType(_ type: String, _ unit: String) -> Perftools_Profiles_ValueType {
            var v = Perftools_Profiles_ValueType()
            v.type = string(type)
            v.unit = string(unit)
            return v
        }

        mutating func mapping(for m: BinaryMapping) -> UInt64 {
            if let id = mappingIndex[m] { return id }
            var out = Perftools_Profiles_Mapping()
            out.id = UInt64(mappings.count + 1)
            out.memoryStart = m.start
            out.memoryLimit = m.limit
            out.fileOffset = m.fileOffset
            out.filename = string(m.path)
            out.buildID = string(m.buildID)
            out.hasFunctions_p = true
            mappings.append(out)
            mappingIndex[m] = out.id
            return out.id
        }

        mutating func function(for frame: Frame) -> UInt64 {
            // Interpreted functions have a source file; native ones are named with their binary.
            let file = frame.file.isEmpty ? frame.mapping?.path ?? "" : frame.file
            let key = FunctionKey(name: frame.function, systemName: frame.systemName, file: file, startLine: frame.startLine)
            if let id = functionIndex[key] { return id }
            var out = Perftools_Profiles_Function()
            out.id = UInt64(functions.count + 1)
            out.name = string(key.name)
            out.systemName = string(key.systemName)
            out.filename = string(key.file)
            out.startLine = Int64(key.startLine)
            functions.append(out)
            functionIndex[key] = out.id
            return out.id
        }

        mutating func location(for frame: Frame) -> UInt64 {
            let mappingID = frame.mapping.map { mapping(for: $0) } ?? 0
            let functionID = function(for: frame)
            let key = LocationKey(mapping: mappingID, address: frame.address, function: functionID, line: frame.line)
            if let id = locationIndex[key] { return id }
            var out = Perftools_Profiles_Location()
            out.id = UInt64(locations.count + 1)
            out.mappingID = mappingID
            out.address = frame.address
            var line = Perftools_Profiles_Line()
            line.functionID = functionID
            line.line = Int64(frame.line)
            out.line = [line]
            locations.append(out)
            locationIndex[key] = out.id
            return out.id
        }
    }
}
