import Foundation

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
        public var values: [Int64]
        public var labels: [String: String]
        public var numericLabels: [String: Int64]
    }

    /// Every sample of `profile` with names resolved through its tables.
    public static func flatten(_ profile: Perftools_Profiles_Profile) -> [FlatSample] {
        let strings = profile.stringTable
        func string(_ index: Int64) -> String { index >= 0 && Int(index) < strings.count ? strings[Int(index)] : "<bad string \(index)>" }
        let functions = Dictionary(profile.function.map { ($0.id, string($0.name)) }, uniquingKeysWith: { a, _ in a })
        let mappings = Dictionary(profile.mapping.map { ($0.id, string($0.filename)) }, uniquingKeysWith: { a, _ in a })
        let locations = Dictionary(profile.location.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        return profile.sample.map { sample in
            var names: [String] = [], files: [String] = []
            for id in sample.locationID {
                let location = locations[id]
                names.append(location?.line.first.flatMap { functions[$0.functionID] } ?? "<no function>")
                files.append(location.flatMap { mappings[$0.mappingID] } ?? "")
            }
            var labels: [String: String] = [:], numeric: [String: Int64] = [:]
            for label in sample.label {
                if label.str != 0 { labels[string(label.key)] = string(label.str) } else { numeric[string(label.key)] = label.num }
            }
            return FlatSample(functions: names, mappings: files, values: sample.value, labels: labels, numericLabels: numeric)
        }
    }
}
