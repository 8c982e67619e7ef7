import CBPF
import Dispatch
import Foundation
import Symbolizer

/// Lists CPython processes for the BPF frame walk (`bpf/python.bpf.h`): finds
/// the interpreter in a described process, checks the layout against the live
/// process (the thread list points back at its interpreter, its threads are
/// the process's, the running frames' code objects are code objects), and
/// only then writes its `python_processes` entry. A process that fails is
/// profiled natively and reported once, with the reason; one whose
/// interpreter is not initialised yet (just exec'd) is tried again.
///
/// Used under the unwind tables' lock (one thread at a time).
final class CPythonProcesses: @unchecked Sendable {
    /// A process's interpreter, as far as the agent got with it.
    enum State: Equatable {
        /// Listed: BPF walks its frames.
        case profiled(version: String)
        /// Its interpreter is not initialised yet: tried again.
        case pending(version: String, attempts: Int, nextTry: UInt64)
        /// Checked and refused (or a version without a layout): native frames only.
        case rejected(version: String, reason: String)
    }

    let maps: SharedBPFMaps
    private let procRoot: String
    private let symbols: CPythonSymbolCache
    private(set) var states: [Int32: State] = [:]
    /// Reasons logged already (once per reason and version).
    private var reported: Set<String> = []
    static let retryNanoseconds: UInt64 = 100_000_000
    static let maximumAttempts = 300  // 30 s of start-up
    static let mismatchAttempts = 10
    /// Test knob: bytes added to the native_thread_id offset, so that the check must fail.
    static let skewedThreadID = ProcessInfo.processInfo.environment["PROFILER_AGENT_PYTHON_SKEW_THREAD_ID"].flatMap { UInt64($0) } ?? 0

    init(maps: SharedBPFMaps, procRoot: String = "/proc", symbols: CPythonSymbolCache = CPythonSymbolCache()) {
        self.maps = maps
        self.procRoot = procRoot
        self.symbols = symbols
    }

    /// Looks at a process just described (or described again): lists it when it runs a checked CPython.
    func update(_ pid: Int32, maps processMaps: ProcessMaps, force: Bool = false) {
        switch states[pid] {
        case .profiled?, .rejected?: if !force { return }
        case .pending(_, _, let nextTry)?: if !force && DispatchTime.now().uptimeNanoseconds < nextTry { return }
        case nil: break
        }
        check(pid, processMaps)
    }

    /// Tries the pending processes again (those whose interpreter was not initialised).
    func retryPending() {
        let now = DispatchTime.now().uptimeNanoseconds
        for (pid, state) in states {
            guard case .pending(_, _, let nextTry) = state, now >= nextTry else { continue }
            guard let processMaps = try? ProcessMaps.read(pid: pid, procRoot: procRoot) else { forget(pid); continue }
            check(pid, processMaps)
        }
    }

    /// Forgets an exited (or exec'd) process.
    func forget(_ pid: Int32) {
        guard states.removeValue(forKey: pid) != nil else { return }
        var key = pid
        bpf_map_delete_elem(maps.fd(of: "python_processes"), &key)
    }

    /// Processes by (version, state), for the metrics.
    var counts: [InterpreterProcessCount] {
        var counts: [InterpreterProcessCount: Int] = [:]
        for state in states.values {
            let key: InterpreterProcessCount = switch state {
            case .profiled(let version): InterpreterProcessCount(runtime: "cpython", version: version, state: "profiled")
            case .pending(let version, _, _): InterpreterProcessCount(runtime: "cpython", version: version, state: "pending")
            case .rejected(let version, let reason): InterpreterProcessCount(runtime: "cpython", version: version, state: reason)
            }
            counts[key, default: 0] += 1
        }
        return counts.map { var key = $0.key; key.processes = $0.value; return key }
    }

    private func check(_ pid: Int32, _ processMaps: ProcessMaps) {
        guard let memory = ProcessMemory(pid: pid, procRoot: procRoot) else { forget(pid); return }
        var runtime: CPythonRuntime
        switch CPythonRuntime.find(in: processMaps, memory: memory, symbols: symbols, procRoot: procRoot) {
        case .success(let found): runtime = found
        case .failure(.notPython): forget(pid); return
        case .failure(.unreadable(let what)): retry(pid, version: "", reason: "unreadable", message: "cannot read \(what)"); return
        case .failure(let failure):
            reject(pid, version: failure.versionLabel, reason: failure.reason, message: failure.message)
            return
        }
        runtime.layout.threadNativeThreadID += Self.skewedThreadID
        switch Self.verify(runtime, memory: memory, threads: namespaceThreadIDs(pid)) {
        case .success(let entry):
            var key = pid
            var value = entry
            guard bpf_map_update_elem(maps.fd(of: "python_processes"), &key, &value, UInt64(BPF_ANY)) == 0 else {
                reject(pid, version: runtime.versionLabel, reason: "map_full", message: "python_processes is full: \(errnoText(errno))")
                return
            }
            states[pid] = .profiled(version: runtime.versionLabel)
        case .failure(.notInitialized):
            retry(pid, version: runtime.versionLabel, reason: "not_initialized", message: "its interpreter did not start within 30 s")
        case .failure(.mismatch(let what)):
            // Threads start and end between the reads: only a mismatch that lasts a second is one.
            retry(pid, version: runtime.versionLabel, reason: "layout_mismatch", message: what, attempts: Self.mismatchAttempts)
        case .failure(.unreadable(let what)):
            retry(pid, version: runtime.versionLabel, reason: "unreadable", message: "cannot read \(what)", attempts: Self.mismatchAttempts)
        }
    }

    /// Tries again later, up to `attempts` times in all; then refuses the process (if it still exists).
    private func retry(_ pid: Int32, version: String, reason: String, message: String, attempts limit: Int = CPythonProcesses.maximumAttempts) {
        var attempts = 1
        if case .pending(_, let before, _)? = states[pid] { attempts = before + 1 }
        guard attempts < limit else {
            guard kill(pid, 0) == 0 else { forget(pid); return }
            reject(pid, version: version, reason: reason, message: message)
            return
        }
        states[pid] = .pending(version: version, attempts: attempts, nextTry: DispatchTime.now().uptimeNanoseconds + Self.retryNanoseconds)
    }

    private func reject(_ pid: Int32, version: String, reason: String, message: String) {
        var key = pid
        bpf_map_delete_elem(maps.fd(of: "python_processes"), &key)
        states[pid] = .rejected(version: version, reason: reason)
        if reported.insert("\(version) \(reason)").inserted {
            FileHandle.standardError.write(Data("profiler-agent: Python \(version) process \(pid) profiled without Python frames: \(message)\n".utf8))
        }
    }

    enum VerifyFailure: Error, Equatable {
        case notInitialized
        case mismatch(String)
        case unreadable(String)
    }

    /// The thread ids of a process in its own pid namespace (what CPython records), from
    /// `/proc/PID/task/*/status` `NSpid` (the last column).
    func namespaceThreadIDs(_ pid: Int32) -> Set<UInt64> {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "\(procRoot)/\(pid)/task")) ?? []
        var ids: Set<UInt64> = []
        for task in tasks.prefix(4096) {
            guard let status = try? String(contentsOfFile: "\(procRoot)/\(pid)/task/\(task)/status", encoding: .utf8),
                  let line = status.split(separator: "\n").first(where: { $0.hasPrefix("NSpid:") }),
                  let last = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).last, let id = UInt64(last) else { continue }
            ids.insert(id)
        }
        return ids
    }

    /// Checks the layout against the live interpreter and makes its BPF entry.
    static func verify(_ runtime: CPythonRuntime, memory: ProcessMemory, threads: Set<UInt64>) -> Result<python_process, VerifyFailure> {
        let layout = runtime.layout
        guard let interpreter = memory.u64(runtime.runtimeAddress &+ layout.runtimeInterpretersHead) else {
            return .failure(.unreadable("_PyRuntime.interpreters.head"))
        }
        guard interpreter != 0 else { return .failure(.notInitialized) }
        let threadsHead = interpreter &+ layout.interpreterThreadsHead
        guard var thread = memory.u64(threadsHead) else { return .failure(.unreadable("the interpreter's thread list")) }
        guard thread != 0 else { return .failure(.notInitialized) }
        var listed = 0, matching = 0
        var visited: Set<UInt64> = [], pthreadIDs: Set<UInt64> = []
        while thread != 0, listed < 1024, visited.insert(thread).inserted {
            listed += 1
            guard let state = memory.read(thread, count: Int(PYTHON_TSTATE_BYTES)) else { return .failure(.unreadable("a thread state")) }
            let words = LittleEndianBytes(state)
            guard words.u64(Int(layout.threadInterpreter)) == interpreter else {
                return .failure(.mismatch("thread state \(hex(thread)) does not point back at interpreter \(hex(interpreter))"))
            }
            switch layout.threadKey {
            case .nativeThreadID:
                if threads.contains(words.u64(Int(layout.threadNativeThreadID))) { matching += 1 }
            case .pthread:
                // A pthread_t is its thread's TCB (x86_64 glibc and musl), whose first word points at
                // itself; one per thread. Which thread it is only BPF can tell (the fs base), and does
                // so at every sample.
                let id = words.u64(Int(layout.threadNativeThreadID))
                if id != 0, id & 7 == 0, memory.u64(id) == id, pthreadIDs.insert(id).inserted, pthreadIDs.count <= threads.count {
                    matching += 1
                }
            }
            // The innermost non-shim frame's code object must be a code object.
            var frame = words.u64(Int(layout.threadFrame))
            if frame != 0, let indirect = layout.cframeCurrentFrame { frame = memory.u64(frame &+ indirect) ?? 0 }
            var steps = 0
            while frame != 0, steps < 8, let bytes = memory.read(frame, count: Int(PYTHON_FRAME_BYTES)) {
                steps += 1
                let frameWords = LittleEndianBytes(bytes)
                if layout.entryMarker == .ownerShim && bytes[Int(layout.frameMarker)] == CPythonLayout.shimOwner {
                    frame = frameWords.u64(Int(layout.framePrevious))
                    continue
                }
                let code = frameWords.u64(Int(layout.frameCode))
                guard memory.u64(code &+ 8) == runtime.codeTypeAddress else {
                    return .failure(.mismatch("frame \(hex(frame)) holds \(hex(code)), not a code object"))
                }
                break
            }
            thread = words.u64(Int(layout.threadNext))
        }
        // Threads may start or end between the two reads: most, not all, must agree.
        guard matching > 0, matching * 2 >= listed else {
            return .failure(.mismatch("\(matching) of \(listed) thread states name a thread of the process"))
        }
        var entry = python_process()
        entry.interp = interpreter
        entry.threads_head = threadsHead
        entry.version = UInt32(runtime.major << 8 | runtime.minor)
        entry.tstate_next = UInt16(layout.threadNext)
        entry.tstate_interp = UInt16(layout.threadInterpreter)
        entry.tstate_native_thread_id = UInt16(layout.threadNativeThreadID)
        entry.tstate_frame = UInt16(layout.threadFrame)
        entry.cframe_current_frame = layout.cframeCurrentFrame.map { Int16($0) } ?? -1
        entry.frame_code = UInt16(layout.frameCode)
        entry.frame_previous = UInt16(layout.framePrevious)
        entry.frame_instr = UInt16(layout.frameInstruction)
        entry.frame_marker = UInt16(layout.frameMarker)
        let marker: python_marker_kind = switch layout.entryMarker {
        case .isEntry: PYTHON_MARKER_IS_ENTRY
        case .ownerShim: PYTHON_MARKER_OWNER_SHIM
        case .everyFrame: PYTHON_MARKER_EVERY_FRAME
        }
        let instruction: python_instr_kind = switch layout.instruction {
        case .pointer: PYTHON_INSTR_POINTER
        case .codeUnits: PYTHON_INSTR_CODE_UNITS
        case .bytes: PYTHON_INSTR_BYTES
        }
        entry.marker_kind = UInt8(marker.rawValue)
        entry.thread_key = UInt8(layout.threadKey == .pthread ? PYTHON_THREAD_KEY_PTHREAD.rawValue : PYTHON_THREAD_KEY_NATIVE_TID.rawValue)
        entry.instr_kind = UInt8(instruction.rawValue)
        entry.code_fingerprint = UInt16(layout.codeFirstLine)
        entry.code_bytecode = UInt16(layout.codeBasicSize)
        return .success(entry)
    }

    private static func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }
}

/// Interpreter processes of one runtime, version and state (a metric series).
public struct InterpreterProcessCount: Hashable, Sendable {
    public var runtime: String
    public var version: String
    /// "profiled", "pending" (not initialised yet), or why not (layout_mismatch, unsupported_version, unreadable, …).
    public var state: String
    public var processes = 0
}

extension CPythonProcesses {
    /// Names of `enum python_stat`, in order.
    static let counterNames = ["stacks", "no_thread_state", "thread_cache_hits", "idle", "frames", "read_fault", "truncated", "walk_ns"]

    /// The BPF walk's counters, summed over CPUs.
    func counters() -> [String: UInt64] {
        let totals = StackCountMaps.perCPUCounters(maps.fd(of: "python_stats"), count: Int(PYTHON_STAT_COUNT.rawValue))
        return Dictionary(uniqueKeysWithValues: zip(Self.counterNames, totals))
    }
}

/// u64 words of a block read from memory, 0 outside it.
extension CPythonRuntime.Failure {
    /// The version label of a failure ("" when unknown).
    var versionLabel: String {
        if case .unsupportedVersion(let version) = self { return version }
        return ""
    }
}
