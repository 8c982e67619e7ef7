/// One stack for the flamegraph: frames root first, and how many samples it had.
public struct FlameStack: Sendable, Equatable {
    /// Frame names from the root (outermost caller) to the leaf.
    public var frames: [String]
    /// Whether each frame (parallel to `frames`) is a kernel frame.
    public var kernel: [Bool]
    public var count: Int64

    public init(frames: [String], kernel: [Bool]? = nil, count: Int64) {
        self.frames = frames
        self.kernel = kernel ?? Array(repeating: false, count: frames.count)
        self.count = count
    }
}

/// A self-contained interactive flamegraph page (placeholder; being written).
public enum FlamegraphPage {
    public static func html(title: String, subtitle: String = "", stacks: [FlameStack]) -> String {
        "<!doctype html><title>\(title)</title>"
    }
}
