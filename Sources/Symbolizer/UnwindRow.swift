/// One row of an unwind table, reduced to what a BPF stack walker can apply
/// (x86_64): how to find the canonical frame address (CFA) and the caller's
/// `rbp`. The return address is at CFA−8 for every `rsp`/`rbp`/`deref`/`plt` row.
public struct UnwindRow: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// ELF virtual address (link-time) where this row starts; it lasts until the next row.
    public var address: UInt64
    /// How to compute the CFA (the caller's `rsp` after the return).
    public var cfa: CFARule
    /// Where the caller's `rbp` is.
    public var framePointer: FramePointerRule

    public init(address: UInt64, cfa: CFARule, framePointer: FramePointerRule) {
        self.address = address
        self.cfa = cfa
        self.framePointer = framePointer
    }

    public var description: String {
        "0x\(String(address, radix: 16)) cfa=\(cfa) rbp=\(framePointer)"
    }
}

/// How the CFA of a row is computed.
public enum CFARule: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// CFA = rsp + k.
    case rsp(Int32)
    /// CFA = rbp + k.
    case rbp(Int32)
    /// CFA = *(rsp + k1) + k2.
    case derefRSP(Int32, Int32)
    /// CFA = *(rbp + k1) + k2 (GCC's stack realignment: `DW_OP_breg6 -8; DW_OP_deref`).
    case derefRBP(Int32, Int32)
    /// CFA = rsp + 8 + (((rip & 15) >= threshold) ? 8 : 0): the standard PLT expression.
    case plt(threshold: UInt8)
    /// A signal trampoline (CIE augmentation `S`, e.g. glibc's `__restore_rt`):
    /// the interrupted registers are in the `ucontext` on the stack.
    case signalFrame
    /// The return address is undefined: the outermost frame (`_start`, `clone3`). Stop.
    case undefinedReturnAddress
    /// No usable rule: a gap between FDEs, a rejected FDE, or a rule BPF cannot apply.
    case invalid

    public var description: String {
        switch self {
        case .rsp(let k): "rsp\(Self.signed(k))"
        case .rbp(let k): "rbp\(Self.signed(k))"
        case .derefRSP(let k1, let k2): "*(rsp\(Self.signed(k1)))\(Self.signed(k2))"
        case .derefRBP(let k1, let k2): "*(rbp\(Self.signed(k1)))\(Self.signed(k2))"
        case .plt(let threshold): "plt(\(threshold))"
        case .signalFrame: "signal"
        case .undefinedReturnAddress: "stop"
        case .invalid: "invalid"
        }
    }

    static func signed(_ k: Int32) -> String { k < 0 ? "\(k)" : "+\(k)" }
}

/// Where the caller's `rbp` is saved.
public enum FramePointerRule: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// `rbp` still holds the caller's value (not saved, same value, or undefined).
    case unchanged
    /// The caller's `rbp` is saved at CFA + k.
    case atCFA(Int32)
    /// The caller's `rbp` is saved at rbp + k (this frame's rbp): `DW_CFA_expression r6
    /// (DW_OP_breg6 k)`, as GCC writes for frames realigned through a DRAP register,
    /// whose CFA is `derefRBP`.
    case atRBP(Int32)

    public var description: String {
        switch self {
        case .unchanged: "unchanged"
        case .atCFA(let k): "c\(CFARule.signed(k))"
        case .atRBP(let k): "*(rbp\(CFARule.signed(k)))"
        }
    }
}

/// Why a whole FDE (or every FDE of a CIE) was left out of a table. Its range
/// then has no rows: lookups there answer `invalid`.
public enum FDERejection: Error, Sendable, Equatable, Hashable, CustomStringConvertible {
    /// The entry, or an operand in it, runs past its length or its section.
    case truncated
    /// A `DW_CFA_*` opcode that is not defined (for x86_64).
    case unknownOpcode(UInt8)
    /// A pointer encoding this reader does not apply (indirect, funcrel, a base it does not know, omit).
    case encoding(UInt8)
    /// A CIE augmentation string it does not understand.
    case augmentation(String)
    /// A CIE version other than 1, 3 or 4, or a segment selector.
    case cieVersion(UInt8)
    /// The FDE's CIE pointer does not lead to a CIE.
    case missingCIE
    /// `DW_CFA_restore_state` with nothing remembered, or too many remembered states.
    case stateStack
    /// A location that goes backwards, or an address range that overflows.
    case addressRange
    /// An instruction that contradicts the current state (e.g. `def_cfa_offset` after `def_cfa_expression`)
    /// or an alignment factor of zero.
    case malformed

    public var description: String {
        switch self {
        case .truncated: "truncated"
        case .unknownOpcode(let op): "unknownOpcode(0x\(String(op, radix: 16)))"
        case .encoding(let e): "encoding(0x\(String(e, radix: 16)))"
        case .augmentation(let a): "augmentation(\"\(a)\")"
        case .cieVersion(let v): "cieVersion(\(v))"
        case .missingCIE: "missingCIE"
        case .stateStack: "stateStack"
        case .addressRange: "addressRange"
        case .malformed: "malformed"
        }
    }
}

/// Why an interpreted row became `CFARule.invalid`.
public enum UnsupportedRowKind: Sendable, Equatable, Hashable, CaseIterable, CustomStringConvertible {
    /// The CFA is based on a register other than rsp or rbp.
    case cfaRegister
    /// A CFA expression other than the PLT and deref forms.
    case cfaExpression
    /// The return address is not at CFA−8 (another offset, a register, an expression).
    case returnAddress
    /// `rbp` is restored by a rule other than "at CFA+k" (register, val_offset, expression).
    case framePointerRule
    /// An offset that does not fit in 32 bits.
    case offsetRange

    public var description: String {
        switch self {
        case .cfaRegister: "cfaRegister"
        case .cfaExpression: "cfaExpression"
        case .returnAddress: "returnAddress"
        case .framePointerRule: "framePointerRule"
        case .offsetRange: "offsetRange"
        }
    }
}
