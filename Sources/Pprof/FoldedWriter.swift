/// Brendan Gregg's folded-stack format for FlameGraph: one line per distinct
/// stack, `comm;root;…;leaf count`. Kernel frames carry FlameGraph's `_[k]`
/// suffix so flamegraph.pl colours them apart.
public struct FoldedWriter {
    public init() {}

    public func encode(_ profile: CPUProfile) -> String {
        var counts: [String: Int64] = [:]
        for sample in profile.samples {
            var parts = [sanitize(sample.comm)]
            for frame in sample.frames.reversed() {
                let name = sanitize(frame.function)
                parts.append(frame.mapping?.isKernel == true ? name + "_[k]" : name)
            }
            counts[parts.joined(separator: ";"), default: 0] += sample.count
        }
        return counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)\n" }.joined()
    }

    /// ';' separates frames and the last ' ' the count, so neither may appear in a name;
    /// newlines would split a line.
    private func sanitize(_ name: String) -> String {
        guard name.contains(where: { $0 == ";" || $0 == "\n" || $0 == " " }) else { return name }
        return String(name.map { $0 == ";" ? ":" : ($0 == "\n" || $0 == " ") ? "_" : $0 })
    }
}
