import CBPF

/// Drives failure paths that cannot be provoked from outside, for tests.
public enum SelfTest {
    /// Loads `bpf/verifier_reject.bpf.c`, a program the verifier rejects, through
    /// the same error reporting as the real programs. Always throws.
    public static func loadProgramTheVerifierRejects() throws(AgentError) {
        BPFLog.capture()
        BPFLog.clear()
        guard let skeleton = verifier_reject_bpf__open() else {
            throw .bpfLoadFailed(object: "verifier_reject", reason: errnoText(errno), verifierLog: BPFLog.tail())
        }
        defer { verifier_reject_bpf__destroy(skeleton) }
        let err = verifier_reject_bpf__load(skeleton)
        guard err != 0 else {
            throw .invalidOption("the verifier unexpectedly accepted verifier_reject.bpf.c")
        }
        throw .bpfLoadFailed(object: "verifier_reject", reason: errnoText(err), verifierLog: BPFLog.tail())
    }
}

import Foundation
