/// Where CPython keeps what a profiler reads, for one minor version (x86_64,
/// default build, not free-threaded). Offsets in bytes; checked on this
/// machine against Debian's 3.11.2 and pyenv's 3.12.1 and 3.13.0 (see
/// `../shared/research/PYTHON_FRAMES.md`), and for 3.8-3.10 with `offsetof`
/// compiled against pyenv's 3.8.18, 3.9.18 and 3.10.13 headers. A process is only trusted after
/// `CPythonRuntime`'s and the agent's checks of these against its live memory.
public struct CPythonLayout: Sendable, Equatable {
    /// How a frame marks the start of a `_PyEval_EvalFrameDefault` activation.
    public enum EntryMarker: Sendable, Equatable {
        /// 3.11: a bool `is_entry` on the activation's first frame.
        case isEntry
        /// 3.12+: a shim frame whose `owner` is FRAME_OWNED_BY_CSTACK (3) below it.
        case ownerShim
        /// 3.8-3.10: every frame object is its own activation.
        case everyFrame
    }

    /// What a thread state records of its thread.
    public enum ThreadKey: Sendable, Equatable {
        /// 3.11+: `native_thread_id`, the thread's id in the process's pid namespace.
        case nativeThreadID
        /// 3.8-3.10: `thread_id`, its `pthread_t` (on x86_64 glibc the thread's fs base).
        case pthread
    }

    /// What a frame's instruction field holds.
    public enum Instruction: Sendable, Equatable {
        /// 3.11+: the address of the instruction in the code object.
        case pointer
        /// 3.10: `f_lasti`, an index in code units.
        case codeUnits
        /// 3.8, 3.9: `f_lasti`, a byte offset.
        case bytes
    }

    public var minor: Int
    /// `_PyRuntime.interpreters.head`.
    public var runtimeInterpretersHead: UInt64
    /// `PyInterpreterState.threads.head`.
    public var interpreterThreadsHead: UInt64
    public var threadNext: UInt64 = 8
    public var threadInterpreter: UInt64 = 16
    /// `cframe` (3.11, 3.12) or `current_frame` (3.13).
    public var threadFrame: UInt64
    /// `_PyCFrame.current_frame`, nil when `threadFrame` is the frame itself.
    public var cframeCurrentFrame: UInt64?
    /// `native_thread_id` (3.11+) or `thread_id` (3.8-3.10): see `threadKey`.
    public var threadNativeThreadID: UInt64
    public var threadKey: ThreadKey = .nativeThreadID
    public var frameCode: UInt64
    public var framePrevious: UInt64
    /// `prev_instr` (3.11, 3.12), `instr_ptr` (3.13) or `f_lasti` (3.8-3.10).
    public var frameInstruction: UInt64 = 56
    public var instruction: Instruction = .pointer
    /// `is_entry` (3.11) or `owner` (3.12+).
    public var frameMarker: UInt64
    public var entryMarker: EntryMarker
    public var codeFirstLine: UInt64
    public var codeFilename: UInt64 = 112
    public var codeName: UInt64 = 120
    /// `co_qualname` (3.11+); nil before, where frames are named by `co_name`.
    public var codeQualifiedName: UInt64? = 128
    /// `co_linetable` (3.10+) or `co_lnotab` (3.8, 3.9).
    public var codeLineTable: UInt64 = 136
    /// `PyCode_Type.tp_basicsize`: where the bytecode starts in a code object.
    public var codeBasicSize: UInt64
    /// `sizeof(PyASCIIObject)` / `sizeof(PyCompactUnicodeObject)`: where a compact string's characters start.
    public var asciiData: UInt64
    public var compactData: UInt64
    /// `PyBytesObject.ob_sval`.
    public var bytesData: UInt64 = 32

    /// The layout of CPython 3.`minor`, nil for versions not supported.
    public static func of(major: Int, minor: Int) -> CPythonLayout? {
        guard major == 3 else { return nil }
        switch minor {
        case 8, 9, 10:
            // PyFrameObject: f_back 24, f_code 32, f_lasti 104 (96 in 3.10); PyThreadState.frame 24,
            // thread_id 176; PyCodeObject (176 bytes): co_firstlineno 40, co_filename 104, co_name 112,
            // co_lnotab / co_linetable 120; the interpreter's tstate_head 8.
            var layout = CPythonLayout(minor: minor, runtimeInterpretersHead: 32, interpreterThreadsHead: 8, threadFrame: 24,
                                       cframeCurrentFrame: nil, threadNativeThreadID: 176, frameCode: 32, framePrevious: 24,
                                       frameMarker: 0, entryMarker: .everyFrame, codeFirstLine: 40, codeBasicSize: 176,
                                       asciiData: 48, compactData: 72)
            layout.threadKey = .pthread
            layout.frameInstruction = minor == 10 ? 96 : 104
            layout.instruction = minor == 10 ? .codeUnits : .bytes
            layout.codeFilename = 104
            layout.codeName = 112
            layout.codeQualifiedName = nil
            layout.codeLineTable = 120
            return layout
        case 11:
            return CPythonLayout(minor: 11, runtimeInterpretersHead: 40, interpreterThreadsHead: 16, threadFrame: 56, cframeCurrentFrame: 8,
                                 threadNativeThreadID: 160, frameCode: 32, framePrevious: 48, frameMarker: 68, entryMarker: .isEntry,
                                 codeFirstLine: 72, codeBasicSize: 184, asciiData: 48, compactData: 72)
        case 12:
            return CPythonLayout(minor: 12, runtimeInterpretersHead: 40, interpreterThreadsHead: 72, threadFrame: 56, cframeCurrentFrame: 0,
                                 threadNativeThreadID: 144, frameCode: 0, framePrevious: 8, frameMarker: 70, entryMarker: .ownerShim,
                                 codeFirstLine: 68, codeBasicSize: 192, asciiData: 40, compactData: 56)
        case 13:
            return CPythonLayout(minor: 13, runtimeInterpretersHead: 632, interpreterThreadsHead: 7344, threadFrame: 72, cframeCurrentFrame: nil,
                                 threadNativeThreadID: 160, frameCode: 0, framePrevious: 8, frameMarker: 70, entryMarker: .ownerShim,
                                 codeFirstLine: 68, codeBasicSize: 200, asciiData: 40, compactData: 56)
        default:
            return nil
        }
    }

    /// `owner` of a shim frame (FRAME_OWNED_BY_CSTACK).
    public static let shimOwner: UInt8 = 3
}
