import Pprof
import Symbolizer

/// Symbolises raw stacks: kernel frames through kallsyms, native frames through
/// each process's mappings (one read of /proc/PID/maps per process per pass),
/// Python frames from the process's code objects, merged in place of the
/// interpreter loop that ran them.
public struct StackSymbolization {
    public let symbolizer: Symbolizer

    public init(symbolizer: Symbolizer) { self.symbolizer = symbolizer }

    static func isBPFTrampoline(_ name: String) -> Bool {
        name.hasPrefix("bpf_prog_") || name.hasPrefix("__bpf_trace_") || name.hasPrefix("bpf_trace_run") || name == "__traceiter_sched_switch"
    }

    /// Leaf-first frames for each stack: kernel frames above user frames.
    public func symbolize(_ stacks: [RawStack]) -> [StackSample] {
        symbolize(groups: [stacks])[0]
    }

    /// Several kinds of stacks (CPU, off-CPU, call sites) in one pass: each
    /// process's maps are read once for all of them. One result per group, in order.
    public func symbolize(groups: [[RawStack]]) -> [[StackSample]] {
        var processes: [Int32: ProcessSymbols] = [:]
        func symbols(of pid: Int32) -> ProcessSymbols {
            if let known = processes[pid] { return known }
            let process = symbolizer.process(pid)
            processes[pid] = process
            return process
        }
        return groups.map { stacks in
            stacks.map { stack in
                var frames: [Frame] = []
                frames.reserveCapacity(stack.frames.count)
                var python: [(frame: Frame, startsActivation: Bool)] = []
                var kernelIndex = 0
                for raw in stack.frames {
                    switch raw {
                    case .kernel(let address):
                        let frame = symbolizer.kernelFrame(kernelIndex > 0 && address > 0 ? address - 1 : address)
                        kernelIndex += 1
                        // Stacks taken inside a tracepoint start with the BPF program and its trampoline.
                        if frames.isEmpty && Self.isBPFTrampoline(frame.function) { continue }
                        frames.append(Frame(function: frame.function, systemName: frame.systemName, address: address, mapping: frame.mapping))
                    case .native(let address, let returnAddress):
                        frames += symbols(of: stack.pid).frames(address, isReturnAddress: returnAddress)
                    case .interpreter(let frame):
                        let named = symbols(of: stack.pid).pythonFrame(code: frame.code, offset: frame.offset,
                                                                       fingerprint: UInt32(truncatingIfNeeded: frame.fingerprint))
                        python.append((named, frame.startsActivation))
                    }
                }
                frames = PythonStackMerge.merge(native: frames, python: python)
                return StackSample(frames: frames, count: Int64(stack.count), pid: stack.pid, tid: stack.tid,
                                   comm: stack.comm, spanID: stack.spanID)
            }
        }
    }
}
