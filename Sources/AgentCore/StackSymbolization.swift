import Pprof
import Symbolizer

/// Symbolises raw stacks: kernel frames through kallsyms, user frames through
/// each process's mappings (one read of /proc/PID/maps per process per pass).
public struct StackSymbolization {
    public let symbolizer: Symbolizer

    public init(symbolizer: Symbolizer) { self.symbolizer = symbolizer }

    static func isBPFTrampoline(_ name: String) -> Bool {
        name.hasPrefix("bpf_prog_") || name.hasPrefix("__bpf_trace_") || name.hasPrefix("bpf_trace_run") || name == "__traceiter_sched_switch"
    }

    /// Leaf-first frames for each stack: kernel frames above user frames.
    public func symbolize(_ stacks: [RawStack]) -> [StackSample] {
        var processes: [Int32: ProcessSymbols] = [:]
        var samples: [StackSample] = []
        samples.reserveCapacity(stacks.count)
        for stack in stacks {
            var frames: [Frame] = []
            frames.reserveCapacity(stack.kernel.count + stack.user.count)
            for (index, address) in stack.kernel.enumerated() {
                let frame = symbolizer.kernelFrame(index > 0 && address > 0 ? address - 1 : address)
                // Stacks taken inside a tracepoint start with the BPF program and its trampoline.
                if frames.isEmpty && Self.isBPFTrampoline(frame.function) { continue }
                frames.append(Frame(function: frame.function, systemName: frame.systemName, address: address, mapping: frame.mapping))
            }
            if !stack.user.isEmpty {
                let process: ProcessSymbols
                if let known = processes[stack.pid] {
                    process = known
                } else {
                    process = symbolizer.process(stack.pid)
                    processes[stack.pid] = process
                }
                for (index, address) in stack.user.enumerated() {
                    frames.append(process.frame(address, isReturnAddress: index > 0))
                }
            }
            samples.append(StackSample(
                frames: frames, count: Int64(stack.count), pid: stack.pid, tid: stack.tid,
                comm: stack.comm, spanID: stack.spanID))
        }
        return samples
    }
}
