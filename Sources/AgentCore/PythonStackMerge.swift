import Symbolizer

/// Puts Python frames where they ran: each native `_PyEval_EvalFrameDefault`
/// activation (hot or `.cold` part) is replaced by the Python frames it was
/// running, innermost activation first.
///
/// BPF lists the Python frames innermost first, with a mark on the first frame
/// of each further activation. When a native walk found fewer activations than
/// there are groups (it stopped early), the outer groups go where the
/// outermost activation is, or above the native frames when none was found.
enum PythonStackMerge {
    /// Whether a native frame is an activation of CPython's interpreter loop.
    static func isEvalLoop(_ frame: Frame) -> Bool {
        frame.kind == .native && frame.function.hasPrefix("_PyEval_EvalFrameDefault")
    }

    /// Whether a native frame is one of CPython's `-X perf` trampolines (3.12+): JIT code in
    /// front of each activation, named `py::function:file` in the perf map. With the Python
    /// frames read in BPF it says nothing more, so it is dropped.
    static func isPerfTrampoline(_ frame: Frame) -> Bool {
        frame.kind == .native && frame.function.hasPrefix("py::") && frame.mapping?.path.hasPrefix("/tmp/perf-") == true
    }

    /// `native` leaf first (kernel frames first); `python` innermost first with their activation marks.
    static func merge(native: [Frame], python: [(frame: Frame, startsActivation: Bool)]) -> [Frame] {
        guard !python.isEmpty else { return native }
        let native = native.contains(where: isPerfTrampoline) ? native.filter { !isPerfTrampoline($0) } : native
        var groups: [[Frame]] = []
        for (index, entry) in python.enumerated() {
            if index == 0 || entry.startsActivation { groups.append([]) }
            groups[groups.count - 1].append(entry.frame)
        }
        let loops = native.indices.filter { isEvalLoop(native[$0]) }
        guard !loops.isEmpty else { return native + groups.joined() }
        var merged: [Frame] = []
        merged.reserveCapacity(native.count + python.count)
        var group = 0
        for (index, frame) in native.enumerated() {
            guard isEvalLoop(frame) else { merged.append(frame); continue }
            if group >= groups.count { merged.append(frame); continue }  // more activations than groups: kept native
            if index == loops.last {
                merged += groups[group...].joined()
                group = groups.count
            } else {
                merged += groups[group]
                group += 1
            }
        }
        return merged
    }
}
