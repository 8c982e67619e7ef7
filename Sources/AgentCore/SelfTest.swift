import CBPF

/// Drives failure paths that cannot be provoked from outside, for tests.
public enum SelfTest {
    /// Loads `bpf/verifier_reject.bpf.c`, a program the verifier rejects, through
    /// the same error reporting as the real programs. Always throws.
    public static func loadProgramTheVerifierRejects() throws(AgentError) {
        _ = try BPFSkeleton(.verifierReject, context: nil)
        throw .invalidOption("the verifier unexpectedly accepted verifier_reject.bpf.c")
    }
}

import Foundation
