import Pprof
import Symbolizer

/// Sums samples that share everything but their count (same thread, labels, frames).
public struct SampleAggregator: Sendable {
    private var index: [StackSample: Int] = [:]
    public private(set) var samples: [StackSample] = []

    public init() {}

    public mutating func add(_ batch: [StackSample]) {
        for sample in batch {
            var key = sample
            key.count = 0
            if let at = index[key] {
                samples[at].count += sample.count
            } else {
                index[key] = samples.count
                samples.append(sample)
            }
        }
    }

    public var isEmpty: Bool { samples.isEmpty }
}
