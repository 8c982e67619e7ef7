@testable import AgentCore
import CBPF
import Symbolizer
import XCTest

/// How Python frames from BPF become pprof frames: the stack words decoded
/// (`bpf/python.h`), and each activation of the interpreter loop replaced by the
/// Python frames it ran.
final class PythonStackMergeTests: XCTestCase {
    func native(_ name: String) -> Frame { Frame(function: name, systemName: name, address: 0x1000, mapping: nil, kind: .native) }
    func python(_ name: String) -> Frame { Frame(function: name, systemName: name, address: 0x2000, mapping: nil, kind: .python) }
    func names(_ frames: [Frame]) -> [String] { frames.map(\.function) }

    func testEachActivationGetsItsOwnGroupInnermostFirst() {
        // Leaf first: a C helper, the inner eval loop, a C call back into Python, the outer loop, main.
        let stack = [native("PyObject_Free"), native("_PyEval_EvalFrameDefault"), native("_PyFunction_Vectorcall"),
                     native("_PyEval_EvalFrameDefault.cold"), native("Py_RunMain"), native("_start")]
        let merged = PythonStackMerge.merge(native: stack, python: [
            (python("hot_loop"), false), (python("parse"), false), (python("Thread.run"), true), (python("<module>"), false),
        ])
        XCTAssertEqual(names(merged), ["PyObject_Free", "hot_loop", "parse", "_PyFunction_Vectorcall", "Thread.run", "<module>",
                                       "Py_RunMain", "_start"])
    }

    func testPerfTrampolinesOfXPerfGiveWayToThePythonFrames() {
        let perfMap = BinaryMapping(start: 0x7f00_0000, limit: 0x7f00_1000, fileOffset: 0, path: "/tmp/perf-7.map", buildID: "")
        let trampoline = Frame(function: "py::parse:/srv/app.py", systemName: "py::parse:/srv/app.py", address: 0x7f00_0010, mapping: perfMap)
        let stack = [native("_PyEval_EvalFrameDefault"), trampoline, native("_PyFunction_Vectorcall"), native("_PyEval_EvalFrameDefault"),
                     native("Py_RunMain")]
        let merged = PythonStackMerge.merge(native: stack, python: [(python("parse"), false), (python("<module>"), true)])
        XCTAssertEqual(names(merged), ["parse", "_PyFunction_Vectorcall", "<module>", "Py_RunMain"])
        XCTAssertEqual(names(PythonStackMerge.merge(native: stack, python: [])), names(stack), "kept where BPF read no Python frames")
    }

    func testGroupsBeyondTheActivationsFoundGoToTheOutermostOne() {
        let stack = [native("_PyEval_EvalFrameDefault"), native("[unknown]")]
        let merged = PythonStackMerge.merge(native: stack, python: [(python("inner"), false), (python("outer"), true)])
        XCTAssertEqual(names(merged), ["inner", "outer", "[unknown]"])
    }

    func testWithoutAnActivationPythonFramesGoAboveTheNativeOnes() {
        let merged = PythonStackMerge.merge(native: [native("[unknown]")], python: [(python("f"), false)])
        XCTAssertEqual(names(merged), ["[unknown]", "f"])
    }

    func testActivationsWithoutAGroupStayNative() {
        let stack = [native("_PyEval_EvalFrameDefault"), native("call"), native("_PyEval_EvalFrameDefault")]
        let merged = PythonStackMerge.merge(native: stack, python: [(python("f"), false)])
        XCTAssertEqual(names(merged), ["f", "call", "_PyEval_EvalFrameDefault"])
    }

    func testStackWordsDecodeNativeThenPythonFrames() {
        let words: [UInt64] = [
            0x401000 | UNWIND_FRAME_EXACT, 0x402000,
            PYTHON_FRAME_TAG | 0x7f00_0000_1000, UInt64(12) << 32 | 0xdead_beef,
            PYTHON_FRAME_TAG | PYTHON_FRAME_NEW_GROUP | 0x7f00_0000_2000, UInt64(PYTHON_OFFSET_UNKNOWN) << 32 | 7,
            PYTHON_FRAME_TAG | 0x7f00_0000_3000,  // cut short: no second word
        ]
        let frames = StackCountMaps.unwoundFrames(words)
        XCTAssertEqual(frames, [
            .native(0x401000, returnAddress: false), .native(0x402000, returnAddress: true),
            .interpreter(InterpreterFrame(runtime: InterpreterFrame.cpython, code: 0x7f00_0000_1000, offset: 12, fingerprint: 0xdead_beef)),
            .interpreter(InterpreterFrame(runtime: InterpreterFrame.cpython, code: 0x7f00_0000_2000, offset: UInt32.max, fingerprint: 7,
                                          startsActivation: true)),
        ])
    }

    func testLayoutsExistFor38To313Only() {
        for minor in 8...13 { XCTAssertNotNil(CPythonLayout.of(major: 3, minor: minor)) }
        for minor in [6, 7, 14] { XCTAssertNil(CPythonLayout.of(major: 3, minor: minor)) }
        XCTAssertNil(CPythonLayout.of(major: 2, minor: 7))
        // Before 3.11: frame objects, each its own activation, named by co_name, keyed by pthread_t.
        for minor in 8...10 {
            let layout = CPythonLayout.of(major: 3, minor: minor)!
            XCTAssertEqual(layout.entryMarker, .everyFrame)
            XCTAssertEqual(layout.threadKey, .pthread)
            XCTAssertNil(layout.codeQualifiedName)
            XCTAssertEqual(layout.instruction, minor == 10 ? .codeUnits : .bytes)
        }
        // Every offset BPF reads must fall inside the blocks it reads.
        for minor in 8...13 {
            let layout = CPythonLayout.of(major: 3, minor: minor)!
            for offset in [layout.threadNext, layout.threadInterpreter, layout.threadFrame, layout.threadNativeThreadID] {
                XCTAssertLessThanOrEqual(offset + 8, UInt64(PYTHON_TSTATE_BYTES), "3.\(minor)")
            }
            for offset in [layout.frameCode, layout.framePrevious, layout.frameInstruction] {
                XCTAssertLessThanOrEqual(offset + 8, UInt64(PYTHON_FRAME_BYTES), "3.\(minor)")
            }
            XCTAssertLessThan(layout.frameMarker, UInt64(PYTHON_FRAME_BYTES), "3.\(minor)")
        }
    }
}
